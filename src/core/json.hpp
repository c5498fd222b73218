// Ownership of a jansson value: released when the holder goes out of scope.
#pragma once

#include <jansson.h>

namespace asset_gate {

struct JsonRef {
    json_t *p;
    explicit JsonRef(json_t *v) noexcept : p(v) {}
    JsonRef(const JsonRef &) = delete;
    JsonRef &operator=(const JsonRef &) = delete;
    ~JsonRef() { json_decref(p); }
};

}  // namespace asset_gate
