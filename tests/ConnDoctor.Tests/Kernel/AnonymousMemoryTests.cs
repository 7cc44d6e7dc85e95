using System.Runtime.InteropServices;
using ConnDoctor.Native;

namespace ConnDoctor.Tests.Kernel;

/// <summary>The kernel-backed memory that the session map keeps its blocks in.</summary>
public class AnonymousMemoryTests
{
    [Fact]
    public void Is_zero_and_resident_only_where_written()
    {
        const int size = 64 << 20;
        using var memory = new AnonymousMemory(size);
        var bytes = memory.As<byte>();
        Assert.Equal(size, bytes.Length);
        Assert.Equal(size / sizeof(int), memory.As<int>().Length);
        int[] pages = [0, size / 2 + 123, size - 1];
        foreach (int at in pages)
        {
            Assert.Equal(0, bytes[at]);
            bytes[at] = 0xAB;
        }
        foreach (int at in pages) Assert.Equal(0xAB, bytes[at]);

        // Three pages written of 16,384: the kernel holds those three for the range, also where transparent huge
        // pages are always on (the mapping asks for small pages). mincore asks about this range alone; smaps would
        // show a mapping merged with its neighbours.
        Assert.Equal(3, ResidentPages(memory.DangerousGetHandle(), size));
    }

    [Fact]
    public void Grows_keeping_what_was_written_without_touching_the_rest()
    {
        using var memory = new AnonymousMemory(64 << 10);
        var before = memory.As<long>();
        before[0] = 42;
        before[^1] = 43;
        memory.Grow(16 << 20);
        var after = memory.As<long>();
        Assert.Equal((16 << 20) / sizeof(long), after.Length);
        Assert.Equal((42L, 43L, 0L), (after[0], after[(64 << 10) / sizeof(long) - 1], after[(64 << 10) / sizeof(long)]));
        Assert.Equal(0L, after[^1]);
        // The two written pages came along, nothing was copied into the new part: at most the two pages just read
        // there (the kernel's zero page, maybe counted) besides them.
        Assert.InRange(ResidentPages(memory.DangerousGetHandle(), 16 << 20), 2, 4);
        memory.Grow(8 << 20);                           // never shrinks
        Assert.Equal(16 << 20, memory.Length);
    }

    [Fact]
    public void Is_mapped_until_disposed_and_disposes_once()
    {
        var memory = new AnonymousMemory(1 << 20);
        memory.As<long>()[0] = 42;
        Assert.Equal(1, ResidentPages(memory.DangerousGetHandle(), 1 << 20));
        memory.Dispose();
        Assert.True(memory.Unmapped);               // munmap said yes (the range itself is not probed afterwards:
        memory.Dispose();                           // another thread of the test run may map it again at once)
    }

    /// <summary>Pages of [address, address + length) in memory, by mincore(2); -1 if the range is not mapped.</summary>
    private static long ResidentPages(nint address, int length)
    {
        var pages = new byte[(length + Environment.SystemPageSize - 1) / Environment.SystemPageSize];
        if (mincore(address, (nuint)length, pages) != 0) return -1;        // ENOMEM: not mapped
        return pages.Count(p => (p & 1) != 0);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int mincore(nint addr, nuint length, byte[] vec);
}
