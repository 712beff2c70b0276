import XCTest
final class AugeEngineTestsPlaceholder: XCTestCase { func testBuilds() {} }
