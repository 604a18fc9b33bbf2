import XCTest
@testable import VLSImaging

final class ImageDecodeTests: XCTestCase {
    func testEmptyBytes() {
        XCTAssertThrowsError(try Image(bytes: []))
    }
}
