import CLibCrypto
import CZMQ
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// The Jupyter wire protocol (messaging 5.3) over ZeroMQ: a multipart message is
//   [routing identities..., "<IDS|MSG>", HMAC-SHA256 hex signature, header, parent_header,
//    metadata, content, buffers...]
// with JSON parts signed by the connection file's key. ZeroMQ and HMAC come from libzmq and
// OpenSSL's libcrypto (system libraries); nothing here implements either.

typealias JSON = [String: Any]

/// The connection file a front end writes (`vls kernel -f FILE`).
struct ConnectionInfo {
    var transport: String
    var ip: String
    var shellPort: Int, iopubPort: Int, stdinPort: Int, controlPort: Int, hbPort: Int
    var key: [UInt8]
    var signatureScheme: String

    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw KernelError("cannot read connection file '\(path)'") }
        guard let o = (try? JSONSerialization.jsonObject(with: data)) as? JSON else {
            throw KernelError("connection file '\(path)' is not a JSON object")
        }
        func port(_ name: String) throws -> Int {
            // An integer: 1.5 is not port 1.
            // (JSON true/false also arrive as NSNumber, of objCType "c".)
            guard let n = o[name] as? NSNumber, String(cString: n.objCType) != "c",
                  let p = Int(exactly: n.doubleValue), p >= 0, p < 65536 else {
                throw KernelError("connection file: missing or bad '\(name)' (an integer port 0...65535)")
            }
            return p
        }
        transport = o["transport"] as? String ?? "tcp"
        ip = o["ip"] as? String ?? "127.0.0.1"
        shellPort = try port("shell_port"); iopubPort = try port("iopub_port"); stdinPort = try port("stdin_port")
        controlPort = try port("control_port"); hbPort = try port("hb_port")
        if let k = o["key"], !(k is String) { throw KernelError("connection file: 'key' must be a string") }
        for name in ["ip", "transport", "signature_scheme"] where o[name] != nil && !(o[name] is String) {
            throw KernelError("connection file: '\(name)' must be a string")
        }
        key = Array((o["key"] as? String ?? "").utf8)
        signatureScheme = o["signature_scheme"] as? String ?? "hmac-sha256"
        guard signatureScheme == "hmac-sha256" else { throw KernelError("unsupported signature_scheme '\(signatureScheme)' (hmac-sha256 only)") }
        guard transport == "tcp" || transport == "ipc" else { throw KernelError("unsupported transport '\(transport)'") }
    }

    func endpoint(_ port: Int) -> String {
        transport == "ipc" ? "ipc://\(ip)-\(port)" : "tcp://\(ip):\(port)"
    }
}

struct KernelError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func jsonInt(_ v: Any?) -> Int? {
    if let i = v as? Int { return i }
    if let n = v as? NSNumber { return n.intValue }
    return nil
}

func jsonBool(_ v: Any?, default def: Bool) -> Bool {
    if let b = v as? Bool { return b }
    if let n = v as? NSNumber { return n.boolValue }
    return def
}

func jsonData(_ o: Any) -> [UInt8] {
    guard let d = try? JSONSerialization.data(withJSONObject: o, options: []) else { return Array("{}".utf8) }
    return [UInt8](d)
}

/// HMAC-SHA256 with OpenSSL 3's one-shot EVP_Q_mac.
struct Signer {
    let key: [UInt8]

    func signature(_ parts: [[UInt8]]) -> String {
        guard !key.isEmpty else { return "" }   // an empty key means unsigned messages (protocol rule)
        let data = parts.flatMap { $0 }
        var mac = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var len = 0
        let ok = key.withUnsafeBufferPointer { k in
            data.withUnsafeBufferPointer { d in
                EVP_Q_mac(nil, "HMAC", nil, "SHA256", nil, k.baseAddress, k.count, d.baseAddress, d.count, &mac, mac.count, &len)
            }
        }
        guard ok != nil, len == 32 else { return "" }
        return mac[0..<len].map { String(format: "%02x", $0) }.joined()
    }

    /// Constant-time comparison (OpenSSL's CRYPTO_memcmp).
    func verify(_ parts: [[UInt8]], signature: [UInt8]) -> Bool {
        if key.isEmpty { return true }
        let expected = Array(self.signature(parts).utf8)
        guard expected.count == signature.count, !expected.isEmpty else { return false }
        return expected.withUnsafeBytes { e in signature.withUnsafeBytes { s in CRYPTO_memcmp(e.baseAddress, s.baseAddress, e.count) } } == 0
    }
}

/// One decoded message.
struct KernelMessage {
    var identities: [[UInt8]]
    var header: JSON
    var parentHeader: JSON
    var metadata: JSON
    var content: JSON
    var msgType: String { header["msg_type"] as? String ?? "" }
}

/// A ZeroMQ socket owned by one thread (iopub is shared behind a lock).
final class ZSocket {
    let raw: UnsafeMutableRawPointer

    init(_ context: UnsafeMutableRawPointer, type: Int32, bind endpoint: String) throws {
        guard let s = zmq_socket(context, type) else { throw KernelError("zmq_socket: \(String(cString: zmq_strerror(zmq_errno())))") }
        raw = s
        var linger: Int32 = 1000
        zmq_setsockopt(s, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        if type == ZMQ_PUB {
            // Ten times ZeroMQ's default of 1000 messages: a front end reading late still gets a
            // burst of thousands of outputs and the final idle, while a stalled subscriber
            // cannot make the kernel hold every output of a long cell in memory.
            var hwm: Int32 = 10_000
            zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, MemoryLayout<Int32>.size)
        }
        if type == ZMQ_ROUTER {
            var handover: Int32 = 1   // a reconnecting front end with the same identity takes over
            zmq_setsockopt(s, ZMQ_ROUTER_HANDOVER, &handover, MemoryLayout<Int32>.size)
        }
        guard zmq_bind(s, endpoint) == 0 else {
            throw KernelError("cannot bind \(endpoint): \(String(cString: zmq_strerror(zmq_errno())))")
        }
    }

    func close() { zmq_close(raw) }

    /// Waits up to `timeoutMs` for input (-1: forever); false on timeout or EINTR.
    func poll(timeoutMs: Int) -> Bool {
        var item = zmq_pollitem_t(socket: raw, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        let n = zmq_poll(&item, 1, timeoutMs)
        return n > 0 && (item.revents & Int16(ZMQ_POLLIN)) != 0
    }

    /// All frames of one multipart message (nil on error, e.g. an interrupted call).
    func receiveFrames() -> [[UInt8]]? {
        var frames: [[UInt8]] = []
        while true {
            var msg = zmq_msg_t()
            zmq_msg_init(&msg)
            defer { zmq_msg_close(&msg) }
            guard zmq_msg_recv(&msg, raw, 0) >= 0 else { return frames.isEmpty ? nil : frames }
            let n = zmq_msg_size(&msg)
            if n > 0, let p = zmq_msg_data(&msg) {
                frames.append([UInt8](UnsafeRawBufferPointer(start: p, count: n)))
            } else {
                frames.append([])
            }
            if zmq_msg_more(&msg) == 0 { return frames }
        }
    }

    func sendFrames(_ frames: [[UInt8]]) {
        for (i, f) in frames.enumerated() {
            let flags: Int32 = i + 1 < frames.count ? ZMQ_SNDMORE : 0
            var rc: Int32
            repeat {
                rc = f.withUnsafeBufferPointer { zmq_send(raw, $0.baseAddress, $0.count, flags) }
            } while rc < 0 && zmq_errno() == EINTR
        }
    }
}

/// Signs, sends and parses messages of one kernel session.
final class Wire {
    static let delimiter = Array("<IDS|MSG>".utf8)
    let signer: Signer
    let session = UUID().uuidString.lowercased()

    init(key: [UInt8]) { signer = Signer(key: key) }

    /// Signatures of the last messages accepted: a signed message sent again is a replay and
    /// is dropped, as jupyter_client's Session does (decode runs on two threads).
    private var seen = Set<[UInt8]>()
    private var seenOrder: [[UInt8]] = []
    private let seenLock = NSLock()
    static let replayWindow = 131_072   // forgets the older half: at least 65,536 kept, as jupyter_client

    private func firstTime(_ signature: [UInt8]) -> Bool {
        guard !signature.isEmpty else { return true }   // unsigned mode: nothing to compare
        seenLock.lock(); defer { seenLock.unlock() }
        guard seen.insert(signature).inserted else { return false }
        seenOrder.append(signature)
        if seenOrder.count > Wire.replayWindow {
            let drop = seenOrder.count / 2
            for s in seenOrder[..<drop] { seen.remove(s) }
            seenOrder.removeFirst(drop)
        }
        return true
    }

    /// Decodes frames; nil (with a note on the kernel's log) for a malformed or badly signed message.
    func decode(_ frames: [[UInt8]], log: (String) -> Void) -> KernelMessage? {
        guard let d = frames.firstIndex(of: Wire.delimiter), frames.count >= d + 6 else {
            log("vls kernel: dropped a message without the <IDS|MSG> delimiter")
            return nil
        }
        let parts = Array(frames[(d + 2)...(d + 5)])
        guard signer.verify(parts, signature: frames[d + 1]) else {
            log("vls kernel: dropped a message with a bad signature")
            return nil
        }
        guard firstTime(frames[d + 1]) else {
            log("vls kernel: dropped a replayed message (its signature was seen before)")
            return nil
        }
        func obj(_ b: [UInt8]) -> JSON? { (try? JSONSerialization.jsonObject(with: Data(b))) as? JSON }
        guard let header = obj(parts[0]) else { log("vls kernel: dropped a message with a bad header"); return nil }
        // The content must be a JSON object (an empty one is `{}`): anything else is not a
        // request, and running it as an empty cell would consume an execution count.
        guard let content = obj(parts[3]) else {
            log("vls kernel: dropped a '\(header["msg_type"] as? String ?? "?")' message whose content is not a JSON object (or not decodable JSON, e.g. a lone UTF-16 surrogate)")
            return nil
        }
        return KernelMessage(identities: Array(frames[..<d]), header: header, parentHeader: obj(parts[1]) ?? [:],
                             metadata: obj(parts[2]) ?? [:], content: content)
    }

    func header(_ msgType: String) -> JSON {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return ["msg_id": UUID().uuidString.lowercased(), "session": session, "username": "vls",
                "date": f.string(from: Date()), "msg_type": msgType, "version": "5.3"]
    }

    func frames(_ msgType: String, content: JSON, parent: JSON, identities: [[UInt8]], metadata: JSON = [:]) -> [[UInt8]] {
        let parts = [jsonData(header(msgType)), jsonData(parent), jsonData(metadata), jsonData(content)]
        return identities + [Wire.delimiter, Array(signer.signature(parts).utf8)] + parts
    }
}
