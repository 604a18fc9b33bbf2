import XCTest
final class VLSToolTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
