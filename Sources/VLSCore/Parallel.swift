import Foundation
import CBLAS

/// Thread settings of the core: BLAS threads and the workers of elementwise kernels.
public enum Threads {
    nonisolated(unsafe) private static var workers = available

    /// Number of workers used by elementwise kernels and OpenBLAS.
    public static var count: Int { workers }

    /// The most workers `set` gives: the CPU count. (`--threads` above it is refused by the
    /// tool; here, for embedders, it is clamped: Int.max overflowed `64 * workers`, and 48
    /// workers on a small machine spun in OpenBLAS's allocator.)
    public static var maximum: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// The CPUs this process may run on: its affinity mask (`taskset -c 0 vls ...` gives
    /// 1; Foundation's activeProcessorCount ignores the mask and gave the machine's count,
    /// so every worker beyond the mask only contended). The default worker count.
    public static var available: Int {
        #if os(Linux)
        // glibc's sched_getaffinity, looked up at run time (Swift's Glibc module does not
        // export the _GNU_SOURCE declarations); a mask of 8192 CPUs.
        if let sym = dlsym(nil, "sched_getaffinity") {
            typealias GetAffinity = @convention(c) (pid_t, Int, UnsafeMutableRawPointer) -> Int32
            let call = unsafeBitCast(sym, to: GetAffinity.self)
            var mask = [UInt64](repeating: 0, count: 128)
            let ok = mask.withUnsafeMutableBytes { call(0, $0.count, $0.baseAddress!) == 0 }
            let n = mask.reduce(0) { $0 + $1.nonzeroBitCount }
            if ok, n > 0 { return min(n, maximum) }
        }
        #endif
        return maximum
    }

    /// Sets both OpenBLAS's thread count and the kernel workers (call before heavy work),
    /// within 1...`maximum`.
    public static func set(_ n: Int) {
        workers = min(max(1, n), maximum)
        openblas_set_num_threads(Int32(workers))
    }

    /// Sets OpenBLAS's thread count alone (the kernel workers stay), within 1...`maximum`.
    public static func setBLAS(_ n: Int) { openblas_set_num_threads(Int32(min(max(1, n), maximum))) }

    /// Runs `body(worker)` for workers 0..<n at once, each with single-threaded OpenBLAS:
    /// OpenBLAS's own threads would spin between calls and fight the workers for the cores.
    /// OpenBLAS gets `count` threads back afterwards. One worker runs inline.
    public static func onWorkers(_ n: Int, _ body: (Int) -> Void) {
        if n <= 1 { body(0); return }
        setBLAS(1)
        defer { setBLAS(count) }
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: n, execute: body)
        }
    }

    /// Runs `body(chunkStart, chunkEnd)` over `0..<n` split in contiguous chunks across the
    /// workers; runs inline when the work is small (`n * costPerItem` below a threshold).
    public static func parallelFor(_ n: Int, costPerItem: Int = 1, _ body: (Int, Int) -> Void) {
        let w = workers
        if w == 1 || n < 2 || n * costPerItem < 32_768 {
            body(0, n)
            return
        }
        let chunks = min(w, n)
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let start = n * c / chunks
                let end = n * (c + 1) / chunks
                if start < end { body(start, end) }
            }
        }
    }
}

/// Cooperative cancellation for long core calls (Ctrl-C): checked between batches and blocks.
/// `Builtins.install` points `flag` at the language's signal-safe interrupt flag
/// (`Interrupt.rawFlag`), so one Ctrl-C stops both an interpreted loop and a long core call.
public enum CoreInterrupt {
    nonisolated(unsafe) public static var flag: UnsafeMutablePointer<Int32> = {
        let p = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
        p.initialize(to: 0)
        return p
    }()
    /// Throws when an interrupt was requested (the flag is cleared by whoever reports it).
    public static func check() throws {
        if flag.pointee != 0 { throw CoreError.interrupted }
    }
}
