import XCTest
final class AugeONNXTestsPlaceholder: XCTestCase { func testBuilds() {} }
