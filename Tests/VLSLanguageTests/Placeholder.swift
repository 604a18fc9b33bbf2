import XCTest
final class VLSLanguageTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
