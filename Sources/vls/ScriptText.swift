import ArgumentParser
import VLSLanguage

/// A script's text from its bytes (UTF-8 only, `SourceText`): a byte that is not UTF-8
/// prints the syntax error of its line and column and exits with the syntax-error code.
func scriptText(_ bytes: [UInt8], path: String) throws -> String {
    switch SourceText.decode(bytes, path: path) {
    case .success(let text): return text
    case .failure(let d):
        writeStandardError(d.rendered())
        throw ExitCode(Exit.syntax)
    }
}
