import CZMQ
import Foundation
import VLSBuiltins
import VLSLanguage
#if canImport(Glibc)
import Glibc
#endif

// `vls kernel -f CONNECTION_FILE`: a Jupyter kernel (messaging protocol 5.3).
// Threads: the main thread serves shell requests and runs cells; the control channel and
// the heartbeat have a thread each, so interrupts, shutdown and heartbeats are answered
// while a cell runs; a capture thread forwards what native code writes to file
// descriptors 1 and 2 (progress bars) as stream output. The iopub socket is shared behind
// a lock; every other socket belongs to one thread.

final class Kernel {
    let info: ConnectionInfo
    let wire: Wire
    let context: UnsafeMutableRawPointer
    let shell: ZSocket, control: ZSocket, stdinSocket: ZSocket, iopub: ZSocket, heartbeat: ZSocket
    let iopubLock = NSLock()
    let runner: CellRunner
    let capture: OutputCapture?
    /// The kernel's own log: the standard error it was started with (the front end's console).
    let logFD: Int32

    private let stateLock = NSLock()
    private var _shuttingDown = false
    var shuttingDown: Bool {
        get { stateLock.lock(); defer { stateLock.unlock() }; return _shuttingDown }
        set { stateLock.lock(); _shuttingDown = newValue; stateLock.unlock() }
    }
    private let threadsDone = DispatchSemaphore(value: 0)

    /// Header of the request being served on shell (what its outputs answer).
    private var _parent: JSON = [:]
    var parent: JSON {
        get { stateLock.lock(); defer { stateLock.unlock() }; return _parent }
        set { stateLock.lock(); _parent = newValue; stateLock.unlock() }
    }

    static var version: String {
        VLSCommand.configuration.version.split(separator: " ").last.map(String.init) ?? "0"
    }

    init(connectionFile: String, interpreter: Interpreter) throws {
        info = try ConnectionInfo(path: connectionFile)
        wire = Wire(key: info.key)
        guard let ctx = zmq_ctx_new() else { throw KernelError("zmq_ctx_new failed") }
        context = ctx
        shell = try ZSocket(ctx, type: ZMQ_ROUTER, bind: info.endpoint(info.shellPort))
        control = try ZSocket(ctx, type: ZMQ_ROUTER, bind: info.endpoint(info.controlPort))
        stdinSocket = try ZSocket(ctx, type: ZMQ_ROUTER, bind: info.endpoint(info.stdinPort))
        iopub = try ZSocket(ctx, type: ZMQ_PUB, bind: info.endpoint(info.iopubPort))
        heartbeat = try ZSocket(ctx, type: ZMQ_REP, bind: info.endpoint(info.hbPort))
        logFD = dup(2)
        runner = CellRunner(interpreter: interpreter)
        capture = OutputCapture()
        runner.emit = { [unowned self] type, content in self.publish(type, content, parent: self.parent) }
        runner.flushCaptured = { [unowned self] in self.capture?.drain() }
        capture?.deliver = { [unowned self] name, text in self.runner.streams.append(name, text) }
        capture?.flushTimer = { [unowned self] in self.runner.streams.flushIfDue() }
    }

    func log(_ text: String) {
        let bytes = Array((text.hasSuffix("\n") ? text : text + "\n").utf8)
        _ = bytes.withUnsafeBufferPointer { write(logFD, $0.baseAddress, $0.count) }
    }

    // MARK: Sending

    func publish(_ type: String, _ content: JSON, parent: JSON) {
        let frames = wire.frames(type, content: content, parent: parent, identities: [Array("kernel.\(wire.session).\(type)".utf8)])
        iopubLock.lock()
        iopub.sendFrames(frames)
        iopubLock.unlock()
    }

    func status(_ state: String, parent: JSON) {
        publish("status", ["execution_state": state], parent: parent)
    }

    func reply(_ socket: ZSocket, to msg: KernelMessage, _ type: String, _ content: JSON, metadata: JSON = [:]) {
        socket.sendFrames(wire.frames(type, content: content, parent: msg.header, identities: msg.identities, metadata: metadata))
    }

    // MARK: Running

    func serve() -> Never {
        var sa = sigaction()
        sa.__sigaction_handler.sa_handler = { _ in Interrupt.request() }   // never kills the kernel
        sigemptyset(&sa.sa_mask)
        sa.sa_flags = SA_RESTART
        sigaction(SIGINT, &sa, nil)
        Interrupt.clear()
        installCrashHandlers(logFD: logFD)

        startThread { [self] in heartbeatLoop() }
        startThread { [self] in controlLoop() }
        capture?.start()
        status("starting", parent: [:])
        status("idle", parent: [:])
        while !shuttingDown {
            guard shell.poll(timeoutMs: 100), let frames = shell.receiveFrames(),
                  let msg = wire.decode(frames, log: log) else { continue }
            handleShell(msg)
        }
        shell.close()
        stdinSocket.close()
        threadsDone.wait()
        threadsDone.wait()
        iopubLock.lock()
        iopub.close()
        iopubLock.unlock()
        zmq_ctx_term(context)   // waits (up to each socket's linger) for queued replies to leave
        exit(0)
    }

    private func startThread(_ body: @escaping () -> Void) {
        let t = Thread { body(); self.threadsDone.signal() }
        t.stackSize = 1 << 20
        t.start()
    }

    private func heartbeatLoop() {
        while !shuttingDown {
            if heartbeat.poll(timeoutMs: 100), let frames = heartbeat.receiveFrames() {
                heartbeat.sendFrames(frames)
            }
        }
        heartbeat.close()
    }

    private func controlLoop() {
        while !shuttingDown {
            guard control.poll(timeoutMs: 100), let frames = control.receiveFrames(),
                  let msg = wire.decode(frames, log: log) else { continue }
            status("busy", parent: msg.header)
            switch msg.msgType {
            case "interrupt_request":
                Interrupt.request()   // the flag Ctrl-C sets: the cell stops at its next check
                reply(control, to: msg, "interrupt_reply", ["status": "ok"])
            case "shutdown_request":
                let restart = jsonBool(msg.content["restart"], default: false)
                reply(control, to: msg, "shutdown_reply", ["status": "ok", "restart": restart])
                beginShutdown()
            case "kernel_info_request":
                reply(control, to: msg, "kernel_info_reply", kernelInfo())
            default:
                log("vls kernel: ignored control message '\(msg.msgType)'")
            }
            status("idle", parent: msg.header)
        }
        control.close()
    }

    /// Stops the serving loops; a cell still running is interrupted. If it does not stop
    /// within 5 s (a native call that never checks), the process ends anyway.
    private func beginShutdown() {
        shuttingDown = true
        Interrupt.request()
        let watchdog = Thread { sleep(5); _exit(0) }
        watchdog.start()
    }

    // MARK: Shell

    func handleShell(_ msg: KernelMessage) {
        parent = msg.header
        status("busy", parent: msg.header)
        defer { status("idle", parent: msg.header) }
        let c = msg.content
        switch msg.msgType {
        case "kernel_info_request":
            reply(shell, to: msg, "kernel_info_reply", kernelInfo())
        case "execute_request":
            guard let code = c["code"] as? String else {
                log("vls kernel: an execute_request without a string 'code' was answered with an error")
                let error: JSON = ["status": "error", "ename": "BadRequest", "evalue": "execute_request: 'code' must be a string",
                                   "traceback": [String](), "execution_count": runner.executionCount]
                reply(shell, to: msg, "execute_reply", error, metadata: ["status": "error"])
                if jsonBool(c["stop_on_error"], default: true) { abortQueuedExecutions() }
                return
            }
            let silent = jsonBool(c["silent"], default: false)
            capture?.silent = silent
            let content = runner.execute(code, silent: silent,
                                         storeHistory: jsonBool(c["store_history"], default: true),
                                         userExpressions: c["user_expressions"] as? JSON ?? [:])
            capture?.silent = false
            reply(shell, to: msg, "execute_reply", content, metadata: ["status": content["status"] ?? "ok"])
            // As ipykernel: only a failed non-silent cell stops the queue (a front end's
            // silent helper request that fails must not skip the user's cells).
            if content["status"] as? String == "error", !silent, jsonBool(c["stop_on_error"], default: true) {
                abortQueuedExecutions()
            }
        case "complete_request":
            reply(shell, to: msg, "complete_reply", runner.complete(c["code"] as? String ?? "", cursor: jsonInt(c["cursor_pos"])))
        case "inspect_request":
            reply(shell, to: msg, "inspect_reply", runner.inspect(c["code"] as? String ?? "", cursor: jsonInt(c["cursor_pos"])))
        case "is_complete_request":
            reply(shell, to: msg, "is_complete_reply", runner.isComplete(c["code"] as? String ?? ""))
        case "history_request":
            reply(shell, to: msg, "history_reply", runner.historyReply(c))
        case "comm_info_request":
            reply(shell, to: msg, "comm_info_reply", ["status": "ok", "comms": [String: Any]()])
        case "shutdown_request":
            let restart = jsonBool(c["restart"], default: false)
            reply(shell, to: msg, "shutdown_reply", ["status": "ok", "restart": restart])
            beginShutdown()
        case "comm_open":
            // No comm targets: the spec asks for an immediate comm_close.
            if let id = c["comm_id"] as? String { publish("comm_close", ["comm_id": id, "data": JSON()], parent: msg.header) }
        case "comm_msg", "comm_close":
            break
        default:
            log("vls kernel: ignored shell message '\(msg.msgType)'")
        }
    }

    /// After a cell fails with `stop_on_error` (the default), the execute requests already
    /// queued behind it (a front end's "Run All") are answered `aborted`, not run, as
    /// ipykernel does; other requests in the queue are served normally.
    func abortQueuedExecutions() {
        while !shuttingDown, shell.poll(timeoutMs: 0), let frames = shell.receiveFrames() {
            guard let next = wire.decode(frames, log: log) else { continue }
            guard next.msgType == "execute_request" else { handleShell(next); continue }
            status("busy", parent: next.header)
            reply(shell, to: next, "execute_reply", ["status": "aborted", "execution_count": runner.executionCount],
                  metadata: ["status": "aborted"])
            status("idle", parent: next.header)
        }
        parent = [:]
    }

    /// Also a notebook's metadata.language_info.
    static var languageInfo: JSON {
        ["name": "vls", "version": version, "mimetype": "text/x-vls", "file_extension": ".vls",
         "pygments_lexer": "python3", "codemirror_mode": "python"]
    }

    func kernelInfo() -> JSON {
        [
            "status": "ok",
            "protocol_version": "5.3",
            "implementation": "vls",
            "implementation_version": Kernel.version,
            "language_info": Kernel.languageInfo,
            "banner": "vls \(Kernel.version): a scripting REPL for reading Vision Transformers (help(f) for help)",
            "help_links": [Any](),
            "debugger": false,
        ]
    }
}

/// The kernel's log descriptor, for the crash handler (a signal handler captures nothing).
nonisolated(unsafe) private var crashLogFD: Int32 = 2

/// A crash signal ends the kernel at once, with one line on the kernel's own console, so
/// the front end sees the kernel die and offers a restart. (Swift's backtracer would try
/// to suspend every thread, write its report into the captured standard error, which
/// reaches the notebook, and leave the heartbeat thread beating: "busy" forever.)
func installCrashHandlers(logFD: Int32) {
    crashLogFD = logFD
    for sig in [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP] {
        var sa = sigaction()
        sa.__sigaction_handler.sa_handler = { sig in
            // Only async-signal-safe calls: write and _exit.
            let text: StaticString = "vls kernel: crashed (fatal signal); the front end can restart the kernel\n"
            _ = write(crashLogFD, text.utf8Start, text.utf8CodeUnitCount)
            _exit(128 + sig)
        }
        sigemptyset(&sa.sa_mask)
        sa.sa_flags = 0
        sigaction(sig, &sa, nil)
    }
}
