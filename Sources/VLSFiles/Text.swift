import Foundation

/// `text` with control characters (C0, DEL, C1) written as `\u{1B}` escapes: names read
/// from files (label names in a config, class folders, a labels.csv) reach the terminal in
/// tables and messages, and an ESC there could rewrite the screen or the title.
public func escapingControlCharacters(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: isControl) else { return text }
    var out = ""
    for u in text.unicodeScalars {
        if isControl(u) { out += "\\u{" + String(u.value, radix: 16, uppercase: true) + "}" } else { out.unicodeScalars.append(u) }
    }
    return out
}

private func isControl(_ u: Unicode.Scalar) -> Bool {
    u.value < 0x20 || (0x7F...0x9F).contains(u.value)
}
