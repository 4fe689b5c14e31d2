#include "core/json_text.h"

#include <cstdint>

#include <nlohmann/json.hpp>

namespace herald {
namespace {

// The length of the UTF-8 sequence that starts at text[i], or 0 if the bytes
// there are not one.
std::size_t Utf8SequenceAt(std::string_view text, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  std::size_t n;
  unsigned char lo = 0x80;
  unsigned char hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    n = 2;
  } else if (b0 >= 0xe0 && b0 <= 0xef) {
    n = 3;
    if (b0 == 0xe0) lo = 0xa0;  // overlong
    if (b0 == 0xed) hi = 0x9f;  // surrogates
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    n = 4;
    if (b0 == 0xf0) lo = 0x90;  // overlong
    if (b0 == 0xf4) hi = 0x8f;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  return n;
}

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The index just past the string literal whose opening quote is at `i`.
std::size_t SkipString(std::string_view text, std::size_t i) {
  for (++i; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '"') {
      return i + 1;
    }
  }
  return text.size();
}

std::size_t SkipSpace(std::string_view text, std::size_t i) {
  while (i < text.size() && IsJsonSpace(text[i])) ++i;
  return i;
}

// The index just past the value that starts at `i` (no leading space).
std::size_t SkipValue(std::string_view text, std::size_t i) {
  if (i >= text.size()) return i;
  if (text[i] == '"') return SkipString(text, i);
  if (text[i] == '[' || text[i] == '{') {
    std::size_t depth = 0;
    for (; i < text.size(); ++i) {
      char c = text[i];
      if (c == '"') {
        i = SkipString(text, i) - 1;
      } else if (c == '[' || c == '{') {
        ++depth;
      } else if (c == ']' || c == '}') {
        if (--depth == 0) return i + 1;
      }
    }
    return i;
  }
  while (i < text.size() && text[i] != ',' && text[i] != '}' && text[i] != ']' &&
         !IsJsonSpace(text[i])) {
    ++i;
  }
  return i;
}

}  // namespace

bool IsUtf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    std::size_t n = Utf8SequenceAt(text, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool IsJson(std::string_view text) {
  // The parser takes a NUL byte for the end of its input, so "1\0junk" would
  // pass; no JSON text holds a raw NUL.
  return text.find('\0') == std::string_view::npos && nlohmann::json::accept(text);
}

std::size_t JsonDepth(std::string_view text) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      i = SkipString(text, i) - 1;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest) deepest = depth;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

void AppendJsonString(std::string_view text, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (std::size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80) {
      std::size_t n = Utf8SequenceAt(text, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";
        ++i;
      } else {
        out.append(text.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0x0f]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  out.push_back('"');
}

void AppendCompactJson(std::string_view json, std::string& out) {
  out.reserve(out.size() + json.size());
  for (std::size_t i = 0; i < json.size();) {
    char c = json[i];
    if (c == '"') {
      std::size_t end = SkipString(json, i);
      out.append(json.substr(i, end - i));
      i = end;
    } else {
      if (!IsJsonSpace(c)) out.push_back(c);
      ++i;
    }
  }
}

std::vector<std::pair<std::string_view, std::string_view>> ObjectMembers(
    std::string_view object) {
  std::vector<std::pair<std::string_view, std::string_view>> members;
  std::size_t i = SkipSpace(object, 0);
  if (i >= object.size() || object[i] != '{') return members;
  i = SkipSpace(object, i + 1);
  while (i < object.size() && object[i] == '"') {
    std::size_t key_end = SkipString(object, i);
    std::string_view key = object.substr(i, key_end - i);
    i = SkipSpace(object, key_end);
    if (i >= object.size() || object[i] != ':') break;
    i = SkipSpace(object, i + 1);
    std::size_t value_end = SkipValue(object, i);
    members.emplace_back(key, object.substr(i, value_end - i));
    i = SkipSpace(object, value_end);
    if (i < object.size() && object[i] == ',') i = SkipSpace(object, i + 1);
  }
  return members;
}

}  // namespace herald
