using System.Runtime.InteropServices;

namespace ConnDoctor.Native;

/// <summary>
/// Zeroed memory straight from the kernel (an anonymous private mapping) for a table that grows: a page becomes
/// resident only when it is first written, growing moves page tables instead of copying (mremap), and the table
/// stays out of the GC's large object heap, whose allocations trigger full collections. On the VMs measured, the
/// first write to a fresh page costs about 13 µs, so a copy into fresh memory on every doubling was not cheap.
/// Unmapped on Dispose, or by the finalizer if the owner forgets.
/// </summary>
internal sealed unsafe partial class AnonymousMemory : SafeHandle
{
    private const int PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000;
    private const int MADV_NOHUGEPAGE = 15, MREMAP_MAYMOVE = 1;

    [LibraryImport("libc", SetLastError = true)]
    private static partial void* mmap(void* addr, nint length, int prot, int flags, int fd, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int munmap(void* addr, nint length);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int madvise(void* addr, nint length, int advice);

    [LibraryImport("libc", SetLastError = true)]
    private static partial void* mremap(void* old, nint oldLength, nint newLength, int flags);

    /// <summary>The size, in bytes.</summary>
    public nint Length { get; private set; }

    /// <summary>Maps <paramref name="length"/> bytes; nothing is resident until written.</summary>
    public AnonymousMemory(nint length) : base(0, ownsHandle: true)
    {
        // NORESERVE: the untouched part need not count against the commit limit (it still does under
        // vm.overcommit_memory=2 or a ulimit -v; then mmap may fail, said in one line).
        void* at = mmap(null, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (at == (void*)-1) throw Refused(length);
        SetHandle((nint)at);
        Length = length;
        SmallPages();
    }

    /// <summary>
    /// Grows the memory to <paramref name="length"/> bytes, keeping what was written; the new part is zero. The
    /// address may change: take it again afterwards.
    /// </summary>
    public void Grow(nint length)
    {
        if (length <= Length) return;
        void* at = mremap((void*)handle, Length, length, MREMAP_MAYMOVE);
        if (at == (void*)-1) throw Refused(length);
        SetHandle((nint)at);
        Length = length;
        SmallPages();
    }

    // Where transparent huge pages are always on, one write would make 2 MB resident: small pages only. Advice,
    // so a kernel without it just keeps its default.
    private void SmallPages() => madvise((void*)handle, Length, MADV_NOHUGEPAGE);

    private static UserException Refused(nint length) =>
        new($"cannot map {length >> 10} KiB of memory: {Libc.ErrorText(Marshal.GetLastPInvokeError())} " +
            "(a limit on address space or committed memory: ulimit -v, vm.overcommit_memory=2?)");

    /// <summary>Whether the memory was given back to the kernel (munmap succeeded).</summary>
    internal bool Unmapped { get; private set; }

    /// <summary>The memory as <typeparamref name="T"/>s; valid while this object is alive and not disposed.</summary>
    public Span<T> As<T>() where T : unmanaged => new((void*)handle, checked((int)(Length / sizeof(T))));

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle() => Unmapped = munmap((void*)handle, Length) == 0;
}
