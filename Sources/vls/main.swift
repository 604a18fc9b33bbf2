import VLSLanguage

// `vls FILE.vls [ARG...]` means `vls run FILE.vls [ARG...]`; no argument starts the REPL.
var arguments = Array(CommandLine.arguments.dropFirst())
let subcommands: Set<String> = ["repl", "run", "notebook", "merge", "help"]
let optionsWithValue: Set<String> = ["--threads", "--seed", "--shard"]
if !arguments.contains(where: { $0.hasPrefix("--generate-completion-script") }) {
    var i = 0
    while i < arguments.count {
        let a = arguments[i]
        if optionsWithValue.contains(a) { i += 2; continue }
        if a.hasPrefix("-") { i += 1; continue }
        if !subcommands.contains(a) { arguments.insert("run", at: 0) }
        break
    }
}
VLSCommand.main(arguments)
