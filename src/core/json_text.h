// JSON text handled as text: UTF-8 checks, string literals, nesting depth,
// compaction and an object's top-level members. None of these recurse, so
// input of any depth costs time linear in its size and no stack. Internal.
#ifndef HERALD_CORE_JSON_TEXT_H_
#define HERALD_CORE_JSON_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace herald {

// The deepest nesting of arrays and objects that input paths accept (a JSON
// line, a payload, a header value). Deeper input is refused with an error
// naming this limit; it is far above what any event needs and keeps every
// consumer that recurses (most JSON libraries do) safe.
inline constexpr std::size_t kMaxJsonDepth = 64;

// True if `text` is well-formed UTF-8 (no overlong forms, no surrogates,
// nothing above U+10FFFF).
bool IsUtf8(std::string_view text);

// True if `text` is one JSON value (RFC 8259; strings must be UTF-8).
bool IsJson(std::string_view text);

// The deepest nesting of '[' and '{' outside string literals: 0 for a
// scalar, 1 for [1,2], 2 for {"a":[]}. Meaningful for JSON text; for other
// text it is only an upper bound of what a parser would see.
std::size_t JsonDepth(std::string_view text);

// Appends `text` as a JSON string literal, quotes included. Bytes that are
// not UTF-8 become U+FFFD, one for each such byte.
void AppendJsonString(std::string_view text, std::string& out);

// Appends `json` without the whitespace outside its string literals: the
// value's own bytes otherwise, numbers and key order as written.
// REQUIRES: IsJson(json).
void AppendCompactJson(std::string_view json, std::string& out);

// The members of a JSON object, in order, as (key literal with its quotes,
// value text) slices of `object`.
// REQUIRES: IsJson(object) and the value is an object.
std::vector<std::pair<std::string_view, std::string_view>> ObjectMembers(std::string_view object);

}  // namespace herald

#endif  // HERALD_CORE_JSON_TEXT_H_
