import XCTest
final class VLSImagingTestsPlaceholder: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }
