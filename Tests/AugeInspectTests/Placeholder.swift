import XCTest
final class AugeInspectTestsPlaceholder: XCTestCase { func testBuilds() {} }
