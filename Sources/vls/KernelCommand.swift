import ArgumentParser
import Foundation
import VLSCore
import VLSImaging
import VLSLanguage
#if canImport(Glibc)
import Glibc
#endif

/// `vls kernel -f CONNECTION_FILE` and `vls kernel install`.
struct KernelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernel",
        abstract: "A Jupyter kernel: `vls kernel install`, then pick vls in JupyterLab, VS Code or nbclient.",
        subcommands: [KernelStart.self, KernelInstall.self],
        defaultSubcommand: KernelStart.self
    )
}

struct KernelStart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start",
        abstract: "Serve a front end over ZeroMQ (started by Jupyter with its connection file).")

    @OptionGroup var session: SessionFlags

    @Option(name: .customShort("f"), help: "The connection file the front end wrote.")
    var connectionFile: String

    func run() throws {
        // The dataset progress bar draws with \r on stderr, as tqdm does in notebooks.
        setenv("VLS_PROGRESS", "1", 0)
        let interp = try session.makeInterpreter(scriptArgs: [])
        let kernel: Kernel
        do {
            kernel = try Kernel(connectionFile: connectionFile, interpreter: interp)
        } catch {
            writeStandardError("vls kernel: \(error)\n")
            throw ExitCode(Exit.io)
        }
        kernel.serve()
    }
}

struct KernelInstall: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install",
        abstract: "Write the kernelspec (kernel.json and logos) where `jupyter kernelspec list` finds it.")

    @Flag(help: "Install for this user (JUPYTER_DATA_DIR, else ~/.local/share/jupyter).")
    var user = false

    @Option(help: "Install under DIR/share/jupyter/kernels (e.g. a venv's prefix).")
    var prefix: String?

    @Option(help: "The kernelspec's name.")
    var name = "vls"

    @Option(help: "The name the front end shows.")
    var displayName = "vls"

    func validate() throws {
        if user && prefix != nil { throw ValidationError("--user and --prefix exclude each other") }
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
            throw ValidationError("--name may hold only letters, digits, '-', '_' and '.'")
        }
    }

    func run() throws {
        let env = ProcessInfo.processInfo.environment
        let base: String
        if let prefix {
            base = (prefix as NSString).standardizingPath + "/share/jupyter"
        } else if user {
            if let d = env["JUPYTER_DATA_DIR"], !d.isEmpty { base = d }
            else if let x = env["XDG_DATA_HOME"], !x.isEmpty { base = x + "/jupyter" }
            else { base = (env["HOME"] ?? NSHomeDirectory()) + "/.local/share/jupyter" }
        } else {
            base = "/usr/local/share/jupyter"
        }
        let dir = base + "/kernels/" + name
        let spec: JSON = [
            "argv": [KernelInstall.executablePath(), "kernel", "-f", "{connection_file}"],
            "display_name": displayName,
            "language": "vls",
            "interrupt_mode": "message",
            "metadata": ["debugger": false] as JSON,
        ]
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let json = try JSONSerialization.data(withJSONObject: spec, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
            try AtomicFile.write(json + Data("\n".utf8), to: dir + "/kernel.json")
            for size in [32, 64] {
                try AtomicFile.write(Data(try KernelInstall.logo(size: size).pngData()), to: dir + "/logo-\(size)x\(size).png")
            }
        } catch {
            writeStandardError("vls kernel install: cannot write \(dir): \(error)\n")
            throw ExitCode(Exit.io)
        }
        print("Installed kernelspec \(name) in \(dir)")
    }

    /// This binary's absolute path (symlinks resolved), for kernel.json's argv.
    static func executablePath() -> String {
        if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
        let arg0 = CommandLine.arguments[0]
        if let r = realpath(arg0, nil) { defer { free(r) }; return String(cString: r) }
        return arg0
    }

    /// The logo: a 4x4 grid of image patches in viridis (a ViT's view of an image), drawn
    /// with the project's own PNG encoder.
    static func logo(size: Int) throws -> Image {
        var px = [UInt8](repeating: 255, count: size * size * 3)
        let cells = 4
        let gap = max(1, size / 32)
        let cell = (size - gap * (cells + 1)) / cells
        let margin = (size - (cell * cells + gap * (cells - 1))) / 2
        for r in 0..<cells {
            for c in 0..<cells {
                let v = Float(r + c) / Float(2 * (cells - 1))
                let (cr, cg, cb) = Colormap.viridis.color(v)
                for y in 0..<cell {
                    for x in 0..<cell {
                        let yy = margin + r * (cell + gap) + y, xx = margin + c * (cell + gap) + x
                        guard yy < size, xx < size else { continue }
                        let i = (yy * size + xx) * 3
                        px[i] = cr; px[i + 1] = cg; px[i + 2] = cb
                    }
                }
            }
        }
        return try Image(width: size, height: size, pixels: px)
    }
}
