using System.Runtime.InteropServices;

namespace ConnDoctor.Native;

/// <summary>
/// Zeroed memory straight from the kernel (an anonymous private mapping), for tables sized for their worst case:
/// a page becomes resident only when it is first written, so the table costs what it uses, never needs a grow and
/// copy, and stays out of the GC's large object heap (whose allocations trigger full collections).
/// Unmapped on Dispose, or by the finalizer if the owner forgets.
/// </summary>
internal sealed unsafe partial class AnonymousMemory : SafeHandle
{
    private const int PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000;

    [LibraryImport("libc", SetLastError = true)]
    private static partial void* mmap(void* addr, nint length, int prot, int flags, int fd, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int munmap(void* addr, nint length);

    /// <summary>The size asked for, in bytes.</summary>
    public nint Length { get; }

    /// <summary>Reserves <paramref name="length"/> bytes of address space; nothing is resident until written.</summary>
    public AnonymousMemory(nint length) : base(0, ownsHandle: true)
    {
        Length = length;
        // NORESERVE: a worst-case size must not count against the commit limit while most of it is never touched.
        void* at = mmap(null, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (at == (void*)-1) throw new OutOfMemoryException($"mmap of {length} bytes failed: {Libc.ErrorText(Marshal.GetLastPInvokeError())}");
        SetHandle((nint)at);
    }

    /// <summary>The memory as <typeparamref name="T"/>s; valid while this object is alive and not disposed.</summary>
    public Span<T> As<T>() where T : unmanaged => new((void*)handle, (int)(Length / sizeof(T)));

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => munmap((void*)handle, Length) == 0;
}
