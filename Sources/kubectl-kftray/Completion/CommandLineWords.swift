import ArgumentParser
import KFTray

/// The words typed before the cursor, read for what completion needs from them: the connection
/// flags (so suggestions come from the kubeconfig, context and namespace the command would use)
/// and the kftray file given with -f.
struct CommandLineWords: Sendable {
  let words: [String]

  init(_ words: [String]) { self.words = words }

  /// The last value of a flag, written `--name value`, `--name=value` or `-x value`.
  func value(of names: String...) -> String? {
    var found: String?
    var index = 0
    while index < words.count {
      let word = words[index]
      if let equals = word.firstIndex(of: "="), names.contains(String(word[..<equals])) {
        found = String(word[word.index(after: equals)...])
      } else if names.contains(word), index + 1 < words.count {
        found = words[index + 1]
        index += 1
      }
      index += 1
    }
    return found
  }

  /// The connection flags among the words, parsed by ArgumentParser itself: each `flag value`
  /// pair is kept when `ConnectionOptions` accepts it alone, so only its own flags count.
  var connection: ConnectionOptions {
    var kept: [String] = []
    var index = 0
    while index < words.count {
      let word = words[index]
      if word.hasPrefix("-") {
        if word.contains("="), (try? ConnectionOptions.parse([word])) != nil {
          kept.append(word)
        } else if index + 1 < words.count, (try? ConnectionOptions.parse([word, words[index + 1]])) != nil {
          kept += [word, words[index + 1]]
          index += 1
        }
      }
      index += 1
    }
    return (try? ConnectionOptions.parse(kept)) ?? ConnectionOptions()
  }

  /// The kftray file given with -f/--file; `-` (stdin) is not read while completing.
  var kftrayFile: String? {
    guard let path = value(of: "-f", "--file"), path != "-" else { return nil }
    return path
  }
}
