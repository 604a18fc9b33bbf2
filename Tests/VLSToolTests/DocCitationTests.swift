import Foundation
import XCTest

/// Every citation of the method notes in code, Stdlib, help texts and docs points to a
/// heading of Docs/method.md that exists.
final class DocCitationTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to '-'.
    static func slug(_ heading: String) -> String {
        String(heading.lowercased().compactMap { c -> Character? in
            if c == " " { return "-" }
            return c.isLetter || c.isNumber || c == "-" || c == "_" ? c : nil
        })
    }

    func testMethodCitationsPointToHeadings() throws {
        let method = try String(contentsOf: Self.root.appendingPathComponent("Docs/method.md"), encoding: .utf8)
        let anchors = Set(method.split(separator: "\n").filter { $0.hasPrefix("## ") }.map { Self.slug(String($0.dropFirst(3))) })
        XCTAssertTrue(anchors.contains("key-value-memories"), "\(anchors.sorted())")
        let citation = try NSRegularExpression(pattern: #"method\.md(#[a-z0-9_-]*)?"#)
        var cited = 0
        let fm = FileManager.default
        for top in ["Sources", "Stdlib", "Examples", "Docs", "Scripts", "README.md"] {
            let base = Self.root.appendingPathComponent(top)
            var files: [URL] = []
            if top.hasSuffix(".md") { files = [base] } else if let e = fm.enumerator(at: base, includingPropertiesForKeys: nil) {
                for case let u as URL in e where ["swift", "vls", "md", "py"].contains(u.pathExtension) { files.append(u) }
            }
            for f in files where f.lastPathComponent != "method.md" {
                let text = try String(contentsOf: f, encoding: .utf8)
                for m in citation.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                    let hit = String(text[Range(m.range, in: text)!])
                    cited += 1
                    guard let hash = hit.firstIndex(of: "#") else {
                        XCTFail("\(f.path): '\(hit)' cites the method notes without a heading anchor"); continue
                    }
                    let anchor = String(hit[hit.index(after: hash)...])
                    XCTAssertTrue(anchors.contains(anchor), "\(f.path): '\(hit)' names no heading of Docs/method.md (have \(anchors.sorted()))")
                }
            }
        }
        XCTAssertGreaterThan(cited, 10, "the scan found the citations")
    }
}
