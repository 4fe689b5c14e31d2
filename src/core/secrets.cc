#include "core/secrets.h"

#include <array>
#include <cctype>
#include <cstddef>

namespace herald {
namespace {

bool IsKeyChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '_' || c == '.' || c == '-';
}

bool EndsWithIgnoringCase(std::string_view text, std::string_view suffix) {
  if (text.size() < suffix.size()) return false;
  text = text.substr(text.size() - suffix.size());
  for (std::size_t i = 0; i < suffix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != suffix[i]) return false;
  }
  return true;
}

bool NamesASecret(std::string_view key) {
  constexpr std::array<std::string_view, 5> kSuffixes = {"password", "passwd", "secret", "token",
                                                         "pwd"};
  for (std::string_view suffix : kSuffixes) {
    if (EndsWithIgnoringCase(key, suffix)) return true;
  }
  return false;
}

bool EndsUnquotedValue(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0 || c == '&' || c == ',' || c == ';' ||
         c == '\'' || c == '"';
}

// Where the authority of the URL whose "://" ends at `start` ends.
std::size_t AuthorityEnd(std::string_view text, std::size_t start) {
  std::size_t i = start;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '/' || c == '?' || c == '#' || c == '\'' || c == '"' ||
        std::isspace(static_cast<unsigned char>(c)) != 0) {
      break;
    }
    ++i;
  }
  return i;
}

}  // namespace

std::string MaskSecrets(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    // A URL's user information: everything between its first ':' and its
    // last '@' is the password.
    if (text.compare(i, 3, "://") == 0) {
      const std::size_t start = i + 3;
      const std::size_t end = AuthorityEnd(text, start);
      const std::string_view authority = text.substr(start, end - start);
      const std::size_t at = authority.rfind('@');
      const std::size_t colon = authority.find(':');
      out.append("://");
      if (at != std::string_view::npos && colon != std::string_view::npos && colon < at) {
        out.append(authority.substr(0, colon + 1));
        out.append(kMaskedSecret);
        out.append(authority.substr(at));
      } else {
        out.append(authority);
      }
      i = end;
      continue;
    }
    // A key=value pair whose key names a secret.
    if (IsKeyChar(text[i]) && (i == 0 || !IsKeyChar(text[i - 1]))) {
      std::size_t key_end = i;
      while (key_end < text.size() && IsKeyChar(text[key_end])) ++key_end;
      std::size_t eq = key_end;
      while (eq < text.size() && text[eq] == ' ') ++eq;
      if (eq < text.size() && text[eq] == '=' && NamesASecret(text.substr(i, key_end - i))) {
        std::size_t value = eq + 1;
        while (value < text.size() && text[value] == ' ') ++value;
        out.append(text.substr(i, value - i));
        std::size_t value_end = value;
        if (value < text.size() && (text[value] == '\'' || text[value] == '"')) {
          const char quote = text[value];
          value_end = value + 1;
          while (value_end < text.size() && text[value_end] != quote) {
            if (text[value_end] == '\\') ++value_end;
            ++value_end;
          }
          value_end = std::min(text.size(), value_end + 1);
          out.push_back(quote);
          out.append(kMaskedSecret);
          out.push_back(quote);
        } else {
          while (value_end < text.size() && !EndsUnquotedValue(text[value_end])) ++value_end;
          out.append(kMaskedSecret);
        }
        i = value_end;
        continue;
      }
      out.append(text.substr(i, key_end - i));
      i = key_end;
      continue;
    }
    out.push_back(text[i]);
    ++i;
  }
  return out;
}

}  // namespace herald
