import Crypto
import PortForwardCodecs
import Testing

@Suite struct SPDYDictionaryTests {
  @Test func dictionaryLengthAdlerAndSHA256() {
    let dict = SPDY3Dictionary.bytes
    #expect(dict.count == 1423)
    // Adler-32 computed here independently of zlib (RFC 1950 §8.2).
    var a: UInt32 = 1
    var b: UInt32 = 0
    for byte in dict {
      a = (a + UInt32(byte)) % 65521
      b = (b + a) % 65521
    }
    #expect(b << 16 | a == 0xE3C6_A7C2)
    #expect(SPDY3Dictionary.adler32 == 0xE3C6_A7C2)
    let sha = SHA256.hash(data: dict).map { String(format: "%02x", $0) }.joined()
    #expect(sha == "51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02")
    #expect(Array(dict.prefix(11)) == [0, 0, 0, 7] + Array("options".utf8))
    #expect(dict.suffix(31).elementsEqual("charset=iso-8859-1,utf-,*,enq=0.".utf8.suffix(31)))
  }
}
