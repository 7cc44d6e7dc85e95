using System.Runtime.InteropServices;
using ConnDoctor.Native;

namespace ConnDoctor.Tests.Kernel;

/// <summary>The kernel-backed memory that the session map sizes for its worst case.</summary>
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

        // Three pages written of 16,384: the kernel holds about that many for the range (a 2 MB page each at most,
        // where transparent huge pages are always on), far below the mapping's size. mincore asks about this range
        // alone; smaps would show a mapping merged with its neighbours.
        long resident = ResidentPages(memory.DangerousGetHandle(), size);
        Assert.InRange(resident, 3, 3 * 512);
    }

    [Fact]
    public void Is_mapped_until_disposed_and_disposes_once()
    {
        var memory = new AnonymousMemory(1 << 20);
        memory.As<long>()[0] = 42;
        Assert.Equal(1, ResidentPages(memory.DangerousGetHandle(), 1 << 20));
        memory.Dispose();
        Assert.True(memory.IsClosed);
        memory.Dispose();                           // (whether the range is unmapped is not asked: another thread of
    }                                               // the test run may map it again at once)

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
