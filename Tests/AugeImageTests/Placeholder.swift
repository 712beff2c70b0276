import XCTest
final class AugeImageTestsPlaceholder: XCTestCase { func testBuilds() {} }
