// Shared counters and their Prometheus exposition. The zone holds plain structs of atomics, one
// slot of them per worker (by ngx_worker; workers past kSlots share one, which the atomics
// allow), each on cache lines of its own: a request adds to its worker's slot without writing a
// line another core is writing. The status location sums the slots.
#include "ngx/stats.hpp"

#include <ctime>

#include "ngx/heartbeat.hpp"
#include "ngx/hiredis_compat.hpp"
#include "ngx/redis_client.hpp"
#include "ngx/redis_endpoints.hpp"
#include "ngx/redis_invalidation.hpp"
#include "ngx/version.hpp"

namespace asset_gate {

namespace {

// Each surface and purpose, and a last "none": refused before the path was classified, or
// before the token was verified.
constexpr int kSurfaces = kSurfaceCount + 1;
constexpr int kPurposes = kPurposeCount + 1;
// Upper bounds of the Redis latency buckets, in microseconds.
constexpr std::uint64_t kBuckets[] = {250,   500,   1000,   2500,   5000,   10000,
                                      25000, 50000, 100000, 250000, 500000, 1000000};
constexpr int kBucketCount = sizeof(kBuckets) / sizeof(kBuckets[0]);

struct alignas(64) Counters {
    ngx_atomic_t decisions[kSurfaces][kPurposes][kReasonCount];
    ngx_atomic_t cache[3];
    ngx_atomic_t redis[4];
    ngx_atomic_t latency[kBucketCount + 1];  // the last: above every bound
    ngx_atomic_t latency_sum_us;
    ngx_atomic_t latency_count;
};

constexpr ngx_uint_t kSlots = 32;

struct Stats {
    Counters slots[kSlots];
};

// What the status page shows: every slot's counters added up, into counters of the same shape.
template <size_t N>
void sum_into(ngx_atomic_t (&to)[N], const ngx_atomic_t (&from)[N]) noexcept {
    for (size_t i = 0; i < N; i++) to[i] += from[i];
}

void sum(const Stats &s, Counters *t) noexcept {
    for (const Counters &c : s.slots) {
        for (int sf = 0; sf < kSurfaces; sf++) {
            for (int p = 0; p < kPurposes; p++) sum_into(t->decisions[sf][p], c.decisions[sf][p]);
        }
        sum_into(t->cache, c.cache);
        sum_into(t->redis, c.redis);
        sum_into(t->latency, c.latency);
        t->latency_sum_us += c.latency_sum_us;
        t->latency_count += c.latency_count;
    }
}

Stats *g_stats = nullptr;
ngx_str_t g_zone_name = ngx_string("asset_gate_stats");

ngx_int_t init_zone(ngx_shm_zone_t *zone, void *data) noexcept {
    if (data != nullptr) {  // reload: keep counting where the old cycle stopped
        zone->data = data;
        g_stats = static_cast<Stats *>(data);
        return NGX_OK;
    }
    auto *shpool = reinterpret_cast<ngx_slab_pool_t *>(zone->shm.addr);
    if (zone->shm.exists) {
        zone->data = shpool->data;
        g_stats = static_cast<Stats *>(shpool->data);
        return NGX_OK;
    }
    auto *stats = static_cast<Stats *>(ngx_slab_calloc(shpool, sizeof(Stats)));
    if (stats == nullptr) return NGX_ERROR;
    shpool->data = stats;
    zone->data = stats;
    g_stats = stats;
    return NGX_OK;
}

void add(ngx_atomic_t *counter, ngx_atomic_int_t n = 1) noexcept {
    (void)ngx_atomic_fetch_add(counter, n);
}

int surface_index(const Ctx *ctx) noexcept {
    return ctx->classified ? static_cast<int>(ctx->path.surface) : kSurfaces - 1;
}

int purpose_index(const Ctx *ctx) noexcept {
    return ctx->verified ? static_cast<int>(ctx->claims.purpose) : kPurposes - 1;
}

std::string_view surface_label(int i) noexcept {
    return i == kSurfaces - 1 ? "none" : surface_name(static_cast<Surface>(i));
}

std::string_view purpose_label(int i) noexcept {
    return i == kPurposes - 1 ? "none" : purpose_name(static_cast<Purpose>(i));
}

// How the text format writes a byte inside a label value; null: as it is.
const char *label_escape(char c) noexcept {
    switch (c) {
        case '\\':
            return "\\\\";
        case '"':
            return "\\\"";
        case '\n':
            return "\\n";
        default:
            return nullptr;
    }
}

// Appends to a growing buffer in the request pool.
struct Out {
    ngx_pool_t *pool;
    ngx_chain_t *first = nullptr;
    ngx_chain_t **last = &first;
    ngx_buf_t *buf = nullptr;
    bool failed = false;

    void put(std::string_view s) noexcept {
        if (failed) return;
        if (buf == nullptr || static_cast<size_t>(buf->end - buf->last) < s.size()) {
            size_t size = ngx_max(s.size(), static_cast<size_t>(16384));
            buf = ngx_create_temp_buf(pool, size);
            ngx_chain_t *cl = ngx_alloc_chain_link(pool);
            if (buf == nullptr || cl == nullptr) {
                failed = true;
                return;
            }
            cl->buf = buf;
            cl->next = nullptr;
            *last = cl;
            last = &cl->next;
        }
        buf->last = ngx_cpymem(buf->last, s.data(), s.size());
    }

    void num(ngx_atomic_uint_t n) noexcept {
        u_char tmp[NGX_ATOMIC_T_LEN];
        put({reinterpret_cast<char *>(tmp), static_cast<size_t>(ngx_sprintf(tmp, "%uA", n) - tmp)});
    }

    void signed_num(std::int64_t n) noexcept {
        u_char tmp[NGX_INT64_LEN + 1];
        put({reinterpret_cast<char *>(tmp), static_cast<size_t>(ngx_sprintf(tmp, "%L", n) - tmp)});
    }

    // A label value, escaped as the text format wants (backslash, quote, newline).
    void label(std::string_view s) noexcept {
        size_t from = 0;
        for (size_t i = 0; i < s.size(); i++) {
            const char *esc = label_escape(s[i]);
            if (esc == nullptr) continue;
            put(s.substr(from, i - from));
            put(esc);
            from = i + 1;
        }
        put(s.substr(from));
    }

    void seconds_from_us(std::uint64_t us) noexcept {
        u_char tmp[64];
        u_char *e = ngx_sprintf(tmp, "%uL.%06uL", us / 1000000, us % 1000000);
        put({reinterpret_cast<char *>(tmp), static_cast<size_t>(e - tmp)});
    }

    size_t size() const noexcept {
        size_t n = 0;
        for (ngx_chain_t *cl = first; cl; cl = cl->next) n += cl->buf->last - cl->buf->pos;
        return n;
    }
};

void header(Out &o, std::string_view name, std::string_view type, std::string_view help) noexcept {
    o.put("# HELP ");
    o.put(name);
    o.put(" ");
    o.put(help);
    o.put("\n# TYPE ");
    o.put(name);
    o.put(" ");
    o.put(type);
    o.put("\n");
}

// A metric of one unlabelled sample: its HELP and TYPE lines, then its value.
void single(Out &o, std::string_view name, std::string_view type, std::string_view help,
            ngx_atomic_uint_t value) noexcept {
    header(o, name, type, help);
    o.put(name);
    o.put(" ");
    o.num(value);
    o.put("\n");
}

// What runs: the module's version and the nginx and hiredis it was built against.
void build_info(Out &o) noexcept {
    header(o, "asset_gate_build_info", "gauge",
           "Always 1: the module's version and the nginx and hiredis it was built against.");
    o.put("asset_gate_build_info{version=\"");
    o.put(kModuleVersion);
    o.put("\",nginx=\"" NGINX_VERSION "\",hiredis=\"");
    o.put(kHiredisVersion);
    o.put("\"} 1\n");
}

void exposition(Out &o, const Counters &s) noexcept {
    header(o, "asset_gate_decisions_total", "counter",
           "Requests the gate decided, by surface, token purpose and $asset_gate_reason.");
    for (int sf = 0; sf < kSurfaces; sf++) {
        for (int p = 0; p < kPurposes; p++) {
            for (int r = 0; r < kReasonCount; r++) {
                ngx_atomic_uint_t n = s.decisions[sf][p][r];
                if (n == 0) continue;
                o.put("asset_gate_decisions_total{surface=\"");
                o.put(surface_label(sf));
                o.put("\",purpose=\"");
                o.put(purpose_label(p));
                o.put("\",reason=\"");
                o.put(reason_name(static_cast<Reason>(r)));
                o.put("\"} ");
                o.num(n);
                o.put("\n");
            }
        }
    }
    header(o, "asset_gate_cache_lookups_total", "counter",
           "Record lookups in the shared cache, by result.");
    o.put("asset_gate_cache_lookups_total{result=\"hit\"} ");
    o.num(s.cache[static_cast<int>(CacheEvent::hit)]);
    o.put("\nasset_gate_cache_lookups_total{result=\"miss\"} ");
    o.num(s.cache[static_cast<int>(CacheEvent::miss)]);
    o.put("\n");
    single(o, "asset_gate_cache_evictions_total", "counter",
           "Live entries evicted to make room in the shared cache.",
           s.cache[static_cast<int>(CacheEvent::eviction)]);
    single(o, "asset_gate_redis_commands_total", "counter", "Commands sent to Redis.",
           s.redis[static_cast<int>(RedisEvent::command)]);
    header(o, "asset_gate_redis_errors_total", "counter",
           "Redis commands that failed: an error or unusable reply, a broken connection, or "
           "the deadline.");
    o.put("asset_gate_redis_errors_total{kind=\"error\"} ");
    o.num(s.redis[static_cast<int>(RedisEvent::error)]);
    o.put("\nasset_gate_redis_errors_total{kind=\"timeout\"} ");
    o.num(s.redis[static_cast<int>(RedisEvent::timeout)]);
    o.put("\n");
    single(o, "asset_gate_redis_reconnects_total", "counter",
           "Connections to Redis established again after one was lost or refused.",
           s.redis[static_cast<int>(RedisEvent::reconnect)]);
    header(o, "asset_gate_redis_latency_seconds", "histogram",
           "Time from sending a command to its reply.");
    ngx_atomic_uint_t cumulative = 0;
    for (int b = 0; b <= kBucketCount; b++) {
        cumulative += s.latency[b];
        o.put("asset_gate_redis_latency_seconds_bucket{le=\"");
        if (b == kBucketCount) {
            o.put("+Inf");
        } else {
            o.seconds_from_us(kBuckets[b]);
        }
        o.put("\"} ");
        o.num(cumulative);
        o.put("\n");
    }
    o.put("asset_gate_redis_latency_seconds_sum ");
    o.seconds_from_us(s.latency_sum_us);
    o.put("\nasset_gate_redis_latency_seconds_count ");
    o.num(s.latency_count);
    o.put("\n");
}

// One gauge per heartbeat the gates check, with its endpoint and key.
void heartbeat_gauge(Out &o, std::string_view name, const HeartbeatSource *source, bool known,
                     std::int64_t value) noexcept {
    o.put(name);
    o.put("{redis=\"");
    o.label(view(source->endpoint->name));
    o.put("\",key=\"");
    o.label(view(source->key));
    o.put("\"} ");
    if (known) {
        o.signed_num(value);
    } else {
        o.put("NaN");
    }
    o.put("\n");
}

// The sync heartbeats as the worker that answers last read them: not shared counters, each
// worker reads for itself (and they agree within about a second).
void heartbeat_exposition(Out &o, const MainConf *mcf) noexcept {
    if (mcf == nullptr || mcf->heartbeats.nelts == 0) return;
    const auto *const *sources = static_cast<HeartbeatSource *const *>(mcf->heartbeats.elts);
    const std::int64_t now = ngx_time();
    header(o, "asset_gate_sync_heartbeat_age_seconds", "gauge",
           "This worker's clock minus the sync heartbeat it last read (negative: ahead of it); "
           "NaN while unknown (missing, not unix seconds, or unreadable).");
    for (ngx_uint_t i = 0; i < mcf->heartbeats.nelts; i++) {
        const HeartbeatReader *reader = heartbeat_reader(sources[i]);
        const bool known = reader != nullptr && reader->seen().known;
        heartbeat_gauge(o, "asset_gate_sync_heartbeat_age_seconds", sources[i], known,
                        known ? now - reader->seen().at : 0);
    }
    header(o, "asset_gate_sync_heartbeat_read_seconds", "gauge",
           "Seconds since this worker last read the sync heartbeat successfully; NaN if never.");
    for (ngx_uint_t i = 0; i < mcf->heartbeats.nelts; i++) {
        const HeartbeatReader *reader = heartbeat_reader(sources[i]);
        const bool known = reader != nullptr && reader->read_at() != 0;
        heartbeat_gauge(o, "asset_gate_sync_heartbeat_read_seconds", sources[i], known,
                        known ? now - reader->read_at() : 0);
    }
}

// The shared record cache's fill.
void cache_exposition(Out &o, const MainConf *mcf) noexcept {
    if (mcf == nullptr || mcf->cache_zone == nullptr) return;
    const CacheUsage u = cache_usage(mcf->cache_zone);
    single(o, "asset_gate_cache_entries", "gauge", "Records (and absences) in the shared cache.",
           u.entries);
    single(o, "asset_gate_cache_bytes", "gauge",
           "Bytes the shared cache's entries take (headers, keys, values).", u.bytes);
    single(o, "asset_gate_cache_size_bytes", "gauge", "The shared cache zone's size.", u.size);
}

// Whether this worker's connections to each endpoint are up (connected and set up: AUTH,
// SELECT, the subscription sent): the worker that answers, as with the heartbeat.
void redis_exposition(Out &o, const MainConf *mcf) noexcept {
    if (mcf == nullptr || mcf->endpoints.nelts == 0) return;
    header(o, "asset_gate_redis_up", "gauge",
           "1 while the answering worker's connection to the endpoint is up and set up, else 0; "
           "connection=\"data\" for lookups, \"invalidation\" for the channel's subscriber.");
    const auto *const *endpoints = static_cast<RedisEndpoint *const *>(mcf->endpoints.elts);
    for (ngx_uint_t i = 0; i < mcf->endpoints.nelts; i++) {
        const RedisClient *data = redis_client(endpoints[i]);
        if (data == nullptr) continue;  // not a worker (or it has no connections)
        const RedisConnection *conns[] = {data, data->runtime()->subscriber.get()};
        const char *kinds[] = {"data", "invalidation"};
        for (int k = 0; k < 2; k++) {
            if (conns[k] == nullptr) continue;
            o.put("asset_gate_redis_up{redis=\"");
            o.label(view(endpoints[i]->name));
            o.put("\",connection=\"");
            o.put(kinds[k]);
            o.put(conns[k]->up() ? "\"} 1\n" : "\"} 0\n");
        }
    }
}

ngx_int_t status_handler(ngx_http_request_t *r) noexcept {
    if (!(r->method & (NGX_HTTP_GET | NGX_HTTP_HEAD))) return NGX_HTTP_NOT_ALLOWED;
    if (ngx_http_discard_request_body(r) != NGX_OK) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    Out o{r->pool};
    build_info(o);
    if (g_stats != nullptr) {
        Counters totals{};
        sum(*g_stats, &totals);
        exposition(o, totals);
    }
    const auto *mcf =
        static_cast<const MainConf *>(ngx_http_get_module_main_conf(r, ngx_http_asset_gate_module));
    cache_exposition(o, mcf);
    redis_exposition(o, mcf);
    heartbeat_exposition(o, mcf);
    if (o.failed) return NGX_HTTP_INTERNAL_SERVER_ERROR;
    return send_memory_body(r, NGX_HTTP_OK, "text/plain; version=0.0.4", o.first,
                            static_cast<off_t>(o.size()));
}

}  // namespace

ngx_int_t stats_zone_add(ngx_conf_t *cf) noexcept {
    size_t size = 8 * ngx_pagesize + sizeof(Stats);
    ngx_shm_zone_t *zone =
        ngx_shared_memory_add(cf, &g_zone_name, size, &ngx_http_asset_gate_module);
    if (zone == nullptr) return NGX_ERROR;
    zone->init = init_zone;
    return NGX_OK;
}

namespace {

// This worker's slot (ngx_worker is its index; 0 outside a worker).
Counters *mine() noexcept {
    return g_stats == nullptr ? nullptr : &g_stats->slots[ngx_worker % kSlots];
}

}  // namespace

void stats_decision(const Ctx *ctx) noexcept {
    if (Counters *c = mine()) {
        add(&c->decisions[surface_index(ctx)][purpose_index(ctx)][static_cast<int>(ctx->reason)]);
    }
}

void stats_cache(CacheEvent e, ngx_uint_t n) noexcept {
    if (Counters *c = mine()) add(&c->cache[static_cast<int>(e)], n);
}

void stats_redis(RedisEvent e) noexcept {
    if (Counters *c = mine()) add(&c->redis[static_cast<int>(e)]);
}

void stats_redis_latency(std::uint64_t us) noexcept {
    Counters *c = mine();
    if (c == nullptr) return;
    int b = 0;
    while (b < kBucketCount && us > kBuckets[b]) b++;
    add(&c->latency[b]);
    add(&c->latency_sum_us, static_cast<ngx_atomic_int_t>(us));
    add(&c->latency_count);
}

std::uint64_t monotonic_us() noexcept {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

char *stats_set_status(ngx_conf_t *cf, ngx_command_t *, void *) noexcept {
    auto *clcf = static_cast<ngx_http_core_loc_conf_t *>(
        ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module));
    clcf->handler = [](ngx_http_request_t *r) -> ngx_int_t { return status_handler(r); };
    return NGX_CONF_OK;
}

}  // namespace asset_gate
