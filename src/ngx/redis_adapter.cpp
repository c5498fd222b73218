// The whole bridge between hiredis and nginx's event loop, and nothing else: level-triggered
// read and write interest on an nginx connection that owns hiredis's socket.
#include "ngx/redis_adapter.hpp"

namespace asset_gate {

namespace {

// Set while hiredis writes: a write interest it asks for then means the socket took less than
// the whole buffer, which only the kernel can say when it has room again.
bool g_writing = false;

void on_read(ngx_event_t *ev) noexcept {
    auto *c = static_cast<ngx_connection_t *>(ev->data);
    redisAsyncHandleRead(static_cast<redisAsyncContext *>(c->data));
}

void on_write(ngx_event_t *ev) noexcept {
    auto *c = static_cast<ngx_connection_t *>(ev->data);
    g_writing = true;
    redisAsyncHandleWrite(static_cast<redisAsyncContext *>(c->data));
    g_writing = false;
}

// hiredis reads one buffer per call, so interest is level-triggered (never NGX_CLEAR_EVENT):
// an edge-triggered registration would strand replies that arrived in the same burst.
void add_event(ngx_event_t *ev, ngx_int_t event) noexcept {
    if (ev->active) return;
    if (ngx_add_event(ev, event, NGX_LEVEL_EVENT) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0, "asset_gate: redis: cannot add event");
    }
}

void del_event(ngx_event_t *ev, ngx_int_t event) noexcept {
    if (!ev->active) return;
    ngx_del_event(ev, event, 0);
}

void add_read(void *data) noexcept {
    add_event(static_cast<ngx_connection_t *>(data)->read, NGX_READ_EVENT);
}
void del_read(void *data) noexcept {
    del_event(static_cast<ngx_connection_t *>(data)->read, NGX_READ_EVENT);
}
// A command was queued on a connected socket: the write runs once this turn of the event loop
// has handled its events (a posted event), so every command queued until then goes out in one
// write(2), and the socket's epoll registration is not changed twice per command. Only a
// write that the kernel cut short, or a connect in progress, waits for epoll's word.
void add_write(void *data) noexcept {
    auto *c = static_cast<ngx_connection_t *>(data);
    auto *ac = static_cast<redisAsyncContext *>(c->data);
    if (!g_writing && (ac->c.flags & REDIS_CONNECTED)) {
        ngx_post_event(c->write, &ngx_posted_events);  // a no-op when already posted
        return;
    }
    add_event(c->write, NGX_WRITE_EVENT);
}
void del_write(void *data) noexcept {
    del_event(static_cast<ngx_connection_t *>(data)->write, NGX_WRITE_EVENT);
}

void cleanup(void *data) noexcept {
    auto *c = static_cast<ngx_connection_t *>(data);
    del_event(c->read, NGX_READ_EVENT);
    del_event(c->write, NGX_WRITE_EVENT);
    // ngx_delete_posted_event is two statements: it needs the braces.
    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }
    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }
    ngx_free_connection(c);
    c->fd = static_cast<ngx_socket_t>(-1);  // hiredis closes the socket itself
}

}  // namespace

bool redis_attach(redisAsyncContext *ac, ngx_log_t *log) noexcept {
    ngx_connection_t *c = ngx_get_connection(ac->c.fd, log);
    if (c == nullptr) return false;
    c->data = ac;
    c->log = log;
    c->read->log = log;
    c->write->log = log;
    c->read->handler = on_read;
    c->write->handler = on_write;
    c->write->ready = 0;
    ac->ev.data = c;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    return true;
}

}  // namespace asset_gate
