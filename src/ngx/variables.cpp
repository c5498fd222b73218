// $asset_gate_* variables: empty until the gate knows them, never filled from an unverified
// token, and the record's fields only once the request is allowed. $asset_gate_surface is known
// from the path alone; $asset_gate_reason once the gate ran.
#include "ngx/module.hpp"

namespace asset_gate {

namespace {

void set(ngx_http_variable_value_t *v, std::string_view s) noexcept {
    v->data = reinterpret_cast<u_char *>(const_cast<char *>(s.data()));
    v->len = s.size();
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
}

// The variable's Ctx, or null while there is nothing to say.
const Ctx *ctx_of(ngx_http_request_t *r, ngx_http_variable_value_t *v) noexcept {
    v->not_found = 1;
    return get_ctx(r->main);
}

ngx_int_t get_id(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t) noexcept {
    const Ctx *ctx = ctx_of(r, v);
    if (ctx == nullptr || !ctx->verified) return NGX_OK;
    auto *p = static_cast<u_char *>(ngx_pnalloc(r->pool, NGX_INT64_LEN));
    if (p == nullptr) return NGX_ERROR;
    size_t n = ngx_sprintf(p, "%uL", ctx->claims.id) - p;
    set(v, {reinterpret_cast<char *>(p), n});
    return NGX_OK;
}

ngx_int_t get_purpose(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t) noexcept {
    const Ctx *ctx = ctx_of(r, v);
    if (ctx != nullptr && ctx->verified) set(v, purpose_name(ctx->claims.purpose));
    return NGX_OK;
}

ngx_int_t get_surface(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t) noexcept {
    const Ctx *ctx = ctx_of(r, v);
    if (ctx != nullptr && ctx->classified) set(v, surface_name(ctx->path.surface));
    return NGX_OK;
}

ngx_int_t get_reason(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t) noexcept {
    const Ctx *ctx = ctx_of(r, v);
    if (ctx != nullptr && ctx->reason_set) set(v, reason_name(ctx->reason));
    return NGX_OK;
}

// One text field of the asset record; `data` is its index in kAssetTexts. The record's fields
// reach a variable only when the gate allowed the request: a refused request must not carry a
// location that error_page or try_files could still serve.
ngx_int_t get_asset_text(ngx_http_request_t *r, ngx_http_variable_value_t *v,
                         uintptr_t data) noexcept {
    const Ctx *ctx = ctx_of(r, v);
    if (ctx != nullptr && ctx->verified && ctx->asset.found && allowed(ctx)) {
        set(v, ctx->asset.*kAssetTexts[data]);
    }
    return NGX_OK;
}

// The record variable of each text field: $asset_gate_<field>, in kAssetTexts' order.
constexpr const char *kAssetTextVariables[] = {"asset_gate_org", "asset_gate_format",
                                               "asset_gate_location", "asset_gate_filename"};
static_assert(sizeof(kAssetTextVariables) / sizeof(kAssetTextVariables[0]) ==
                  sizeof(kAssetTexts) / sizeof(kAssetTexts[0]),
              "a variable for each text field of the asset record");

bool add(ngx_conf_t *cf, const char *name, ngx_http_get_variable_pt get, uintptr_t data) noexcept {
    ngx_str_t n = ngx_str(name);
    ngx_http_variable_t *var = ngx_http_add_variable(cf, &n, NGX_HTTP_VAR_NOCACHEABLE);
    if (var == nullptr) return false;
    var->get_handler = get;
    var->data = data;
    return true;
}

}  // namespace

ngx_int_t add_variables(ngx_conf_t *cf) noexcept {
    if (!add(cf, "asset_gate_id", get_id, 0) || !add(cf, "asset_gate_purpose", get_purpose, 0) ||
        !add(cf, "asset_gate_surface", get_surface, 0) ||
        !add(cf, "asset_gate_reason", get_reason, 0)) {
        return NGX_ERROR;
    }
    for (uintptr_t i = 0; i < sizeof(kAssetTextVariables) / sizeof(kAssetTextVariables[0]); i++) {
        if (!add(cf, kAssetTextVariables[i], get_asset_text, i)) return NGX_ERROR;
    }
    return NGX_OK;
}

}  // namespace asset_gate
