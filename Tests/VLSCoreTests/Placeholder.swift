import XCTest
final class VLSCoreTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
