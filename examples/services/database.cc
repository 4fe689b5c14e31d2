#include "services/database.h"

namespace herald::examples {

Result<std::int64_t> Database::QueryInt(const std::string& sql,
                                        std::initializer_list<SqlValue> params) {
  std::int64_t n = 0;
  Status s = Query(sql, params, [&](const SqlRow& row) { n = row.Int(0); });
  if (!s.ok()) return std::unexpected(s);
  return n;
}

}  // namespace herald::examples
