import Foundation
import VLSLanguage

/// `vls notebook FILE.vls --ipynb -o OUT.ipynb [--execute]`: the `# %%` cells as a Jupyter
/// notebook (nbformat 4.5, cell ids, kernelspec vls). With --execute the code cells run
/// in-process through the kernel's CellRunner, so outputs are exactly what the kernel would
/// send a front end; no Python is involved. Execution stops at the first failing cell, as
/// nbclient does; the later cells are written without outputs.
struct IpynbWriter {
    let path: String
    let runner: CellRunner?

    /// The notebook, and whether a cell failed.
    func notebook(_ source: String) -> (JSON, Bool) {
        var cells: [JSON] = []
        var failed = false
        for (i, cell) in NotebookRenderer.split(source).enumerated() {
            let id = "cell-\(i + 1)"
            if cell.isProse {
                let text = cell.lines.map { line -> String in
                    if line.hasPrefix("# ") { return String(line.dropFirst(2)) }
                    if line.hasPrefix("#") { return String(line.dropFirst()) }
                    return line
                }
                cells.append(["cell_type": "markdown", "id": id, "metadata": JSON(), "source": IpynbWriter.sourceLines(trimmed(text))])
                continue
            }
            let code = trimmed(cell.lines).joined(separator: "\n")
            var entry: JSON = ["cell_type": "code", "id": id, "metadata": JSON(), "source": IpynbWriter.sourceLines(code.isEmpty ? [] : code.components(separatedBy: "\n")),
                               "execution_count": NSNull(), "outputs": [Any]()]
            if let runner, !failed {
                let (outputs, reply) = run(code, runner)
                entry["outputs"] = outputs
                entry["execution_count"] = reply["execution_count"] ?? NSNull()
                if reply["status"] as? String != "ok" { failed = true }
            }
            cells.append(entry)
        }
        let nb: JSON = [
            "nbformat": 4,
            "nbformat_minor": 5,
            "metadata": [
                "kernelspec": ["name": "vls", "display_name": "vls", "language": "vls"] as JSON,
                "language_info": Kernel.languageInfo,
            ] as JSON,
            "cells": cells,
        ]
        return (nb, failed)
    }

    /// Runs one cell, turning its iopub messages into nbformat outputs.
    private func run(_ code: String, _ runner: CellRunner) -> ([JSON], JSON) {
        var outputs: [JSON] = []
        var clearPending = false
        runner.emit = { type, content in
            if type == "execute_input" { return }
            if type == "clear_output" {
                if content["wait"] as? Bool == true { clearPending = true } else { outputs = [] }
                return
            }
            if clearPending { outputs = []; clearPending = false }
            switch type {
            case "stream":
                let name = content["name"] as? String ?? "stdout", text = content["text"] as? String ?? ""
                if var last = outputs.last, last["output_type"] as? String == "stream", last["name"] as? String == name {
                    last["text"] = (last["text"] as? String ?? "") + text
                    outputs[outputs.count - 1] = last
                } else {
                    outputs.append(["output_type": "stream", "name": name, "text": text])
                }
            case "display_data":
                outputs.append(["output_type": "display_data", "data": content["data"] ?? JSON(), "metadata": content["metadata"] ?? JSON()])
            case "execute_result":
                outputs.append(["output_type": "execute_result", "execution_count": content["execution_count"] ?? NSNull(),
                                "data": content["data"] ?? JSON(), "metadata": content["metadata"] ?? JSON()])
            case "error":
                outputs.append(["output_type": "error", "ename": content["ename"] ?? "", "evalue": content["evalue"] ?? "",
                                "traceback": content["traceback"] ?? [String]()])
            default:
                break
            }
        }
        let reply = runner.execute(code)
        runner.emit = { _, _ in }
        // A notebook file has no pager: help(x) pages become the cell's text output.
        for page in reply["payload"] as? [JSON] ?? [] {
            if let text = (page["data"] as? JSON)?["text/plain"] as? String {
                outputs.append(["output_type": "stream", "name": "stdout", "text": text + "\n"])
            }
        }
        return (outputs, reply)
    }

    private func trimmed(_ lines: [String]) -> [String] {
        var l = lines
        while let f = l.first, f.trimmingCharacters(in: .whitespaces).isEmpty { l.removeFirst() }
        while let e = l.last, e.trimmingCharacters(in: .whitespaces).isEmpty { l.removeLast() }
        return l
    }

    /// nbformat's multiline string: lines keeping their "\n", the last without.
    static func sourceLines(_ lines: [String]) -> [String] {
        lines.enumerated().map { i, l in i + 1 < lines.count ? l + "\n" : l }
    }

    static func serialize(_ nb: JSON) -> String? {
        guard let d = try? JSONSerialization.data(withJSONObject: nb, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) else { return nil }
        return String(decoding: d, as: UTF8.self) + "\n"
    }
}
