import Crypto
import PortForwardCodecs
import XCTest

final class SPDYDictionaryTests: XCTestCase {
  func testDictionaryLengthAdlerAndSHA256() {
    let dict = SPDY3Dictionary.bytes
    XCTAssertEqual(dict.count, 1423)
    // Adler-32 computed here independently of zlib (RFC 1950 §8.2).
    var a: UInt32 = 1
    var b: UInt32 = 0
    for byte in dict {
      a = (a + UInt32(byte)) % 65521
      b = (b + a) % 65521
    }
    XCTAssertEqual(b << 16 | a, 0xE3C6_A7C2)
    XCTAssertEqual(SPDY3Dictionary.adler32, 0xE3C6_A7C2)
    let sha = SHA256.hash(data: dict).map { String(format: "%02x", $0) }.joined()
    XCTAssertEqual(sha, "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02")
    XCTAssertEqual(Array(dict.prefix(11)), [0, 0, 0, 7] + Array("options".utf8))
    XCTAssertTrue(dict.suffix(31).elementsEqual("charset=iso-8859-1,utf-,*,enq=0.".utf8.suffix(31)))
  }
}
