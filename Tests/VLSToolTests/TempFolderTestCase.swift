import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A test case with a fresh temporary folder per test (`tmp`, removed afterwards) and the
/// fixtures' paths: the setup the hardening test classes share.
class TempFolderTestCase: XCTestCase {
    var tmp = ""
    /// The folder name's prefix (which class made it, when one is left behind).
    class var folderPrefix: String { "vls-test" }

    static let fixtures = BuiltinCaseTests.root + "/Tests/Fixtures"
    static let standard = fixtures + "/models/standard"

    override func setUpWithError() throws {
        tmp = NSTemporaryDirectory() + "\(Self.folderPrefix)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: tmp)
    }
}
