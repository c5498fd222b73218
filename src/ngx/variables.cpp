// $asset_gate_* variables: empty until the gate knows them, never filled from an unverified
// token, and the record's fields only once the request is allowed. $asset_gate_surface is known
// from the path alone; $asset_gate_reason once the gate ran.
#include "ngx/module.hpp"

namespace asset_gate {

namespace {

enum Var : uintptr_t { id, purpose, surface, org, format, location, filename, reason };

void set(ngx_http_variable_value_t *v, std::string_view s) noexcept {
    v->data = reinterpret_cast<u_char *>(const_cast<char *>(s.data()));
    v->len = s.size();
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
}

ngx_int_t get(ngx_http_request_t *r, ngx_http_variable_value_t *v, uintptr_t data) noexcept {
    Ctx *ctx = get_ctx(r->main);
    v->not_found = 1;
    if (ctx == nullptr) return NGX_OK;
    // The record's fields reach a variable only when the gate allowed the request: a refused
    // request must not carry a location that error_page or try_files could still serve.
    bool asset = ctx->verified && ctx->asset_found && allowed(ctx);
    switch (static_cast<Var>(data)) {
        case id:
            if (ctx->verified) {
                auto *p = static_cast<u_char *>(ngx_pnalloc(r->pool, NGX_INT64_LEN));
                if (p == nullptr) return NGX_ERROR;
                size_t n = ngx_sprintf(p, "%uL", ctx->id) - p;
                set(v, {reinterpret_cast<char *>(p), n});
            }
            break;
        case purpose:
            if (ctx->verified) set(v, purpose_name(ctx->purpose));
            break;
        case surface:
            if (ctx->classified) set(v, surface_name(ctx->surface));
            break;
        case org:
            if (asset) set(v, view(ctx->org));
            break;
        case format:
            if (asset) set(v, view(ctx->format));
            break;
        case location:
            if (asset) set(v, view(ctx->location));
            break;
        case filename:
            if (asset) set(v, view(ctx->filename));
            break;
        case reason:
            if (ctx->reason_set) set(v, reason_name(ctx->reason));
            break;
    }
    return NGX_OK;
}

ngx_int_t get_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
                       uintptr_t data) noexcept {
    return get(r, v, data);
}

struct Def {
    ngx_str_t name;
    Var var;
};

ngx_str_t str(const char *s) noexcept {
    return {ngx_strlen(s), reinterpret_cast<u_char *>(const_cast<char *>(s))};
}

}  // namespace

ngx_int_t add_variables(ngx_conf_t *cf) noexcept {
    const Def defs[] = {
        {str("asset_gate_id"), id},
        {str("asset_gate_purpose"), purpose},
        {str("asset_gate_surface"), surface},
        {str("asset_gate_org"), org},
        {str("asset_gate_format"), format},
        {str("asset_gate_location"), location},
        {str("asset_gate_filename"), filename},
        {str("asset_gate_reason"), reason},
    };
    for (const Def &d : defs) {
        ngx_str_t name = d.name;
        ngx_http_variable_t *var = ngx_http_add_variable(cf, &name, NGX_HTTP_VAR_NOCACHEABLE);
        if (var == nullptr) return NGX_ERROR;
        var->get_handler = get_variable;
        var->data = d.var;
    }
    return NGX_OK;
}

}  // namespace asset_gate
