// The event-driven testbench's C++ half: host, external memory, ADC delay line and optical-port
// recorder of one XPU around its Verilated model (Verilog top `xpu_cosim`, the CosimTop wrapper).
//
// Python (oxbnn/testbenches/event_tb.py) loads this as a shared library through ctypes, hands it
// one layer at a time (the descriptor, the three streams' tiles, their memory model and pre-drawn
// stall / ready decisions) and calls oxbnn_resume(), which clocks the model cycle by cycle and
// returns only when Python must act:
//   * NEED_CODES: a PCA sample's ADC code is due in this cycle (a sample in cycle t is driven in
//     cycle t + adc_latency); Python reads every pending sample's window of optical-port rows,
//     runs the optics on them and delivers the drive bits of each code;
//   * NEED_RANDOM + k: stream k (0 thr, 1 act, 2 wgt, 3 the host's result ready) has used its
//     pre-drawn decisions; Python draws more from the same random.Random;
//   * PROGRESS every progress_every cycles (Python shows progress, and sees Ctrl-C), DONE,
//     TIMEOUT, WINDOW (the rows since the last sample passed max_window_bytes: an XPU that
//     never samples would otherwise fill the memory before the cycle budget runs out);
//   * LAYER_DONE: in a chain (oxbnn_chain), a layer that is not the last is done in this cycle;
//     Python takes its records and calls oxbnn_begin, and the same cycle is then played again
//     as the next layer's cycle 0 (the descriptor queue starts it in the cycle of the done).
// The per-cycle semantics are those of oxbnn.testbenches.env.XpuEnv.step (one layer) and
// ChainEnv.step (a chain), which the tests hold equal to this file's (the same cycles, strobes,
// results and codes on random layers and chains). Cycles are counted from the chain's first
// start (e->t, what the streams see) and a layer's records from its own start (e->t - e->t0).
//
// Words are little-endian arrays of 32-bit limbs; bit i of a word is bit i & 31 of limb i >> 5.
#include "Vxpu_cosim.h"
#include "verilated.h"

#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

typedef uint32_t limb;

enum Status {
  DONE = 0, NEED_CODES = 1, PROGRESS = 2, TIMEOUT = 3, WINDOW = 4, LAYER_DONE = 5, NEED_RANDOM = 10
};

// The layout of the drive and watch words, set once (oxbnn_new).
enum Cfg {
  C_DRIVE_BITS, C_WATCH_BITS, C_START, C_RES_READY, C_RES_VALID, C_RES_PAYLOAD, C_RES_WIDTH,
  C_ERROR, C_DONE, C_OPT_BASE, C_OPT_WIDTH, C_M, C_S,
  C_THR_READY, C_THR_VALID, C_THR_PAYLOAD, C_THR_WIDTH,
  C_ACT_READY, C_ACT_VALID, C_ACT_PAYLOAD, C_ACT_WIDTH,
  C_WGT_READY, C_WGT_VALID, C_WGT_PAYLOAD, C_WGT_WIDTH,
  C_START_READY,
  C_COUNT
};

static inline int64_t limbs_of(int64_t bits) { return (bits + 31) >> 5; }

static inline int bit_at(const limb* w, int64_t i) { return (w[i >> 5] >> (i & 31)) & 1u; }

// dst[0 .. limbs_of(width)) = bits off .. off + width of src (dst's high bits cleared).
static void get_bits(const limb* src, int64_t off, int64_t width, limb* dst) {
  int64_t n = limbs_of(width), q = off >> 5, r = off & 31;
  for (int64_t i = 0; i < n; i++) {
    uint64_t lo = src[q + i];
    uint64_t hi = (r && i * 32 + 32 - r < width) ? src[q + i + 1] : 0;
    dst[i] = (limb)((lo >> r) | (hi << (32 - r)));
  }
  if (width & 31) dst[n - 1] &= (1u << (width & 31)) - 1;
}

// dst |= src << off, src being width bits.
static void or_bits(limb* dst, int64_t off, const limb* src, int64_t width) {
  int64_t n = limbs_of(width), q = off >> 5, r = off & 31;
  int64_t top = limbs_of(off + width);
  for (int64_t i = 0; i < n; i++) {
    uint64_t v = (uint64_t)src[i] << r;
    dst[q + i] |= (limb)v;
    if (r && q + i + 1 < top) dst[q + i + 1] |= (limb)(v >> 32);
  }
}

struct Stream {
  int64_t ready_at = 0, valid_bit = 0, payload_at = 0, width = 0, wl = 0;
  std::vector<limb> words;          // every word of every tile, wl limbs each
  std::vector<int64_t> tile_start;  // first word of each tile, then the total
  std::vector<int64_t> latency, per_word;  // each tile's memory model
  bool stalling = false;
  const uint8_t* draws = nullptr;   // pre-drawn "withhold this due word" decisions
  int64_t n_draws = 0, i_draw = 0;
  int64_t tile = 0, word = 0, request = -1, prev_end = -1, stalls = 0;
  std::vector<limb> held;           // the payload on the field, held until replaced
  bool finished() const { return tile + 1 >= (int64_t)tile_start.size(); }
};

struct Env {
  std::unique_ptr<VerilatedContext> ctx;
  std::unique_ptr<Vxpu_cosim> top;
  int64_t cfg[C_COUNT];
  int64_t dl, wl, port_bytes;       // limbs of drive and watch, bytes of one port row
  std::vector<limb> watch, drive, idle, scratch;
  Stream st[3];
  // Host.
  double ready_p = 1.0;
  const uint8_t* ready_draws = nullptr;
  int64_t n_ready = 0, i_ready = 0;
  int64_t t = 0, t0 = 0, max_cycles = 0, not_ready = 0, progress_every = 65536;
  // The chain's host: every layer's descriptor word (dl limbs each), the layers taken so far
  // and the cycle each was taken; one layer without oxbnn_chain.
  std::vector<limb> descs;
  int64_t n_layers = 1, offered = 0, finished = 0;
  std::vector<int64_t> taken;
  int64_t max_window_bytes = 1ll << 30;
  bool done = false, error = false, active = false;
  std::vector<limb> results;        // result payloads, rl limbs each
  std::vector<int64_t> result_cycles;
  std::vector<int64_t> sample_slots, reset_slots;
  // Optics: the port rows since the last readout, and the samples waiting for codes.
  std::vector<uint8_t> rows;
  int64_t n_rows = 0, window_lo = 0;
  std::vector<int64_t> pending;     // (cycle, first row, end row) per sample
  int64_t adc_latency = 1;
  std::deque<std::pair<int64_t, std::vector<limb>>> due;  // (cycle, ADC drive bits)
  // Waves and the replay check.
  int64_t trace_from = 0, trace_to = -1;
  std::vector<limb> trace_watch, trace_drive;
  bool record = false;
  std::vector<limb> recorded;       // every clocked cycle's drive word
  uint64_t hash = 1469598103934665603ull;
  int64_t clocked = 0;
};

static void clock_cycle(Env* e, const limb* drive) {
  // The watch word read before this edge enters the hash (the replay recomputes it).
  for (int64_t i = 0; i < e->wl; i++) e->hash = (e->hash ^ e->watch[i]) * 1099511628211ull;
  if (e->record) e->recorded.insert(e->recorded.end(), drive, drive + e->dl);
  std::memcpy(&e->top->drive, drive, sizeof(e->top->drive));
  e->top->clk = 1;
  e->top->eval();
  e->top->clk = 0;
  e->top->eval();
  std::memcpy(e->watch.data(), &e->top->watch, sizeof(e->top->watch));
  e->clocked++;
}

static void reset_model(Vxpu_cosim* top) {
  top->rst = 1;
  std::memset(&top->drive, 0, sizeof(top->drive));
  top->clk = 0;
  top->eval();
  for (int i = 0; i < 3; i++) {
    top->clk = 1;
    top->eval();
    top->clk = 0;
    top->eval();
  }
  top->rst = 0;
  top->eval();
}

// A layer's records and host start again (its first cycle is e->t).
static void start_records(Env* e, double ready_p, int64_t max_cycles, int64_t trace_from,
                          int64_t trace_to) {
  e->ready_p = ready_p;
  e->ready_draws = nullptr;
  e->n_ready = e->i_ready = 0;
  e->max_cycles = max_cycles;
  e->not_ready = 0;
  e->done = e->error = false;
  e->results.clear();
  e->result_cycles.clear();
  e->sample_slots.clear();
  e->reset_slots.clear();
  e->rows.clear();
  e->n_rows = e->window_lo = 0;
  e->pending.clear();
  e->due.clear();
  e->trace_from = trace_from;
  e->trace_to = trace_to;
  e->trace_watch.clear();
  e->trace_drive.clear();
}

extern "C" {

// The model, reset; cfg: C_COUNT values (enum Cfg). NULL if the widths disagree with the model.
void* oxbnn_new(const int64_t* cfg) {
  Env* e = new Env;
  e->ctx.reset(new VerilatedContext);
  e->top.reset(new Vxpu_cosim{e->ctx.get()});
  std::memcpy(e->cfg, cfg, sizeof(e->cfg));
  e->dl = limbs_of(cfg[C_DRIVE_BITS]);
  e->wl = limbs_of(cfg[C_WATCH_BITS]);
  if ((int64_t)sizeof(e->top->drive) > e->dl * 4 || (int64_t)sizeof(e->top->watch) > e->wl * 4 ||
      (int64_t)sizeof(e->top->drive) < (cfg[C_DRIVE_BITS] + 7) / 8 ||
      (int64_t)sizeof(e->top->watch) < (cfg[C_WATCH_BITS] + 7) / 8) {
    delete e;
    return nullptr;
  }
  e->port_bytes = (cfg[C_OPT_WIDTH] + 7) / 8;
  e->watch.assign(e->wl + 1, 0);
  e->drive.assign(e->dl, 0);
  e->idle.assign(e->dl, 0);
  e->scratch.assign(limbs_of(cfg[C_OPT_WIDTH]) + 1, 0);
  for (int k = 0; k < 3; k++) {
    const int64_t* c = cfg + C_THR_READY + 4 * k;
    e->st[k].ready_at = c[0];
    e->st[k].valid_bit = c[1];
    e->st[k].payload_at = c[2];
    e->st[k].width = c[3];
    e->st[k].wl = limbs_of(c[3]);
  }
  reset_model(e->top.get());
  std::memcpy(e->watch.data(), &e->top->watch, sizeof(e->top->watch));
  return e;
}

void oxbnn_free(void* p) {
  Env* e = (Env*)p;
  e->top->final();
  delete e;
}

// Record every clocked drive word from now on (for oxbnn_replay), or stop recording.
void oxbnn_record(void* p, int on) { ((Env*)p)->record = on != 0; }

// A layer: the descriptor's idle drive word; per stream its words (wl limbs each), the first
// word of each tile and the total (n_tiles + 1 values), memory latency and cycles per word; the
// host's ready probability; the cycle budget, the ADC latency, the traced window, how often
// oxbnn_resume returns PROGRESS and the most bytes of port rows kept without a sample.
void oxbnn_layer(void* p, const limb* idle, const limb* const* words, const int64_t* const* starts,
                 const int64_t* n_tiles, const int64_t* latency, const int64_t* per_word,
                 const int64_t* stalling, double ready_p, int64_t max_cycles, int64_t adc_latency,
                 int64_t trace_from, int64_t trace_to, int64_t progress_every,
                 int64_t max_window_bytes) {
  Env* e = (Env*)p;
  e->progress_every = progress_every;
  e->max_window_bytes = max_window_bytes;
  std::memcpy(e->idle.data(), idle, e->dl * 4);
  for (int k = 0; k < 3; k++) {
    Stream& s = e->st[k];
    s.tile_start.assign(starts[k], starts[k] + n_tiles[k] + 1);
    int64_t n = s.tile_start.back();
    s.words.assign(words[k], words[k] + n * s.wl);
    s.latency.assign(n_tiles[k], latency[k]);
    s.per_word.assign(n_tiles[k], per_word[k]);
    s.stalling = stalling[k] != 0;
    s.draws = nullptr;
    s.n_draws = s.i_draw = 0;
    s.tile = s.word = s.stalls = 0;
    s.request = s.prev_end = -1;
    s.held.assign(e->dl, 0);
  }
  e->t = e->t0 = 0;
  e->descs.assign(idle, idle + e->dl);
  e->n_layers = 1;
  e->offered = e->finished = 0;
  e->taken.clear();
  e->active = true;
  e->adc_latency = adc_latency;
  start_records(e, ready_p, max_cycles, trace_from, trace_to);
}

// After oxbnn_layer (its first layer): the run is a chain of n layers whose descriptor words are
// descs (dl limbs each), offered to the descriptor queue one after the other.
void oxbnn_chain(void* p, int64_t n, const limb* descs) {
  Env* e = (Env*)p;
  e->n_layers = n;
  e->descs.assign(descs, descs + n * e->dl);
}

// Append tiles to stream k (as oxbnn_layer's: words, the first word of each and the total, their
// memory model): a later layer of the chain.
void oxbnn_append(void* p, int k, const limb* words, const int64_t* starts, int64_t n_tiles,
                  int64_t latency, int64_t per_word) {
  Env* e = (Env*)p;
  Stream& s = e->st[k];
  int64_t base = s.tile_start.back();
  for (int64_t i = 1; i <= n_tiles; i++) s.tile_start.push_back(base + starts[i]);
  s.words.insert(s.words.end(), words, words + starts[n_tiles] * s.wl);
  s.latency.insert(s.latency.end(), n_tiles, latency);
  s.per_word.insert(s.per_word.end(), n_tiles, per_word);
}

// The next layer of a chain starts in this cycle (after LAYER_DONE, its records taken): the
// per-layer records start again, with its host's ready probability, cycle budget and trace.
void oxbnn_begin(void* p, double ready_p, int64_t max_cycles, int64_t trace_from,
                 int64_t trace_to) {
  Env* e = (Env*)p;
  e->t0 = e->t;
  e->finished++;
  start_records(e, ready_p, max_cycles, trace_from, trace_to);
}

// The cycle each layer was taken (from the chain's first start), into out (n_layers values).
void oxbnn_taken(void* p, int64_t* out) {
  Env* e = (Env*)p;
  std::copy(e->taken.begin(), e->taken.end(), out);
}

// Pre-drawn decisions for stream k (0..2: withhold a due word; 3: the host is ready).
void oxbnn_draws(void* p, int k, const uint8_t* draws, int64_t n) {
  Env* e = (Env*)p;
  if (k == 3) {
    e->ready_draws = draws;
    e->n_ready = n;
    e->i_ready = 0;
  } else {
    e->st[k].draws = draws;
    e->st[k].n_draws = n;
    e->st[k].i_draw = 0;
  }
}

// Stream k's word for cycle t into the drive word (XpuEnv.step and Feeder.drive).
static void feed(Env* e, Stream& s, int ready, limb* word) {
  int64_t t = e->t;
  if (!s.finished()) {
    bool go = true;
    if (s.request < 0) {
      if (ready && t > s.prev_end) {
        s.request = t;
      } else {
        go = false;
      }
    }
    if (go && t >= s.request + s.latency[s.tile] + s.word * s.per_word[s.tile]) {
      if (s.stalling && s.draws[s.i_draw++]) {
        s.stalls++;
        s.request++;
      } else {
        const limb* payload = &s.words[(s.tile_start[s.tile] + s.word) * s.wl];
        std::fill(s.held.begin(), s.held.end(), 0);
        or_bits(s.held.data(), s.payload_at, payload, s.width);
        word[s.valid_bit >> 5] |= 1u << (s.valid_bit & 31);
        if (ready) {
          s.word++;
          if (s.tile_start[s.tile] + s.word == s.tile_start[s.tile + 1]) {
            s.prev_end = t;
            s.tile++;
            s.word = 0;
            s.request = -1;
          }
        }
      }
    }
  }
  for (int64_t i = 0; i < e->dl; i++) word[i] |= s.held[i];
}

static void record_slots(Env* e, std::vector<int64_t>& into, int64_t lo) {
  int64_t m = e->cfg[C_M], s = e->cfg[C_S];
  for (int64_t j = 0; j < s; j++) {
    for (int64_t x = 0; x < m; x++) {
      if (bit_at(e->scratch.data(), lo + x * s + j)) {
        into.push_back((e->t - e->t0) * s + j);
        break;
      }
    }
  }
}

// Clock the layer until Python must act (see the file's head).
int oxbnn_resume(void* p) {
  Env* e = (Env*)p;
  const int64_t* c = e->cfg;
  int64_t ms = c[C_M] * c[C_S];
  int64_t since = 0;
  while (!e->done) {
    int64_t t = e->t;
    if (t - e->t0 > e->max_cycles) return TIMEOUT;
    if (!e->pending.empty() && e->pending[0] + e->adc_latency <= t) return NEED_CODES;
    for (int k = 0; k < 3; k++)
      if (e->st[k].stalling && e->st[k].i_draw >= e->st[k].n_draws && !e->st[k].finished())
        return NEED_RANDOM + k;
    if (e->ready_p < 1.0 && e->i_ready >= e->n_ready) return NEED_RANDOM + 3;
    if (since++ == e->progress_every) return PROGRESS;
    if ((int64_t)e->rows.size() > e->max_window_bytes) return WINDOW;
    const limb* w = e->watch.data();
    // The running layer. Optical side: keep the port row; a sample closes the window since the
    // last readout.
    get_bits(w, c[C_OPT_BASE], c[C_OPT_WIDTH], e->scratch.data());
    const uint8_t* row = (const uint8_t*)e->scratch.data();
    e->rows.insert(e->rows.end(), row, row + e->port_bytes);
    e->n_rows++;
    bool resets = false, samples = false;
    for (int64_t i = 0; i < ms; i++) resets |= bit_at(e->scratch.data(), i);
    for (int64_t i = 0; i < ms; i++) samples |= bit_at(e->scratch.data(), ms + i);
    if (resets) record_slots(e, e->reset_slots, 0);
    if (samples) {
      record_slots(e, e->sample_slots, ms);
      e->pending.insert(e->pending.end(), {t, e->window_lo, e->n_rows});
      e->window_lo = e->n_rows;
    }
    limb* word = e->drive.data();
    std::fill(word, word + e->dl, 0);
    // Host result sink.
    int ready = e->ready_p >= 1.0 ? 1 : e->ready_draws[e->i_ready++];
    if (ready) word[c[C_RES_READY] >> 5] |= 1u << (c[C_RES_READY] & 31);
    if (bit_at(w, c[C_RES_VALID])) {
      if (ready) {
        size_t at = e->results.size();
        e->results.resize(at + limbs_of(c[C_RES_WIDTH]));
        get_bits(w, c[C_RES_PAYLOAD], c[C_RES_WIDTH], &e->results[at]);
        e->result_cycles.push_back(t - e->t0);
      } else {
        e->not_ready++;
      }
    }
    // ADC delay line.
    if (!e->due.empty() && e->due.front().first == t) {
      const std::vector<limb>& bits = e->due.front().second;
      for (int64_t i = 0; i < e->dl; i++) word[i] |= bits[i];
      e->due.pop_front();
    }
    if (bit_at(w, c[C_ERROR])) e->error = true;
    // A done in the layer's cycle 0 is the previous layer's (a chain).
    bool done = bit_at(w, c[C_DONE]) && t > e->t0;
    if (done && e->finished + 1 < e->n_layers) {
      e->done = true;
      return LAYER_DONE;  // oxbnn_begin, then this cycle again as the next layer's cycle 0
    }
    // The host: the next layer's descriptor, and start while the XPU can take it (one layer:
    // start in cycle 0, where an idle XPU is always ready).
    int64_t d = e->offered < e->n_layers ? e->offered : e->n_layers - 1;
    for (int64_t i = 0; i < e->dl; i++) word[i] |= e->descs[d * e->dl + i];
    bool take = e->offered < e->n_layers &&
                (e->n_layers == 1 ? t == 0 : bit_at(w, c[C_START_READY]) != 0);
    if (take) {
      word[c[C_START] >> 5] |= 1u << (c[C_START] & 31);
      e->taken.push_back(t);
      e->offered++;
    }
    // External memory.
    for (int k = 0; k < 3; k++) feed(e, e->st[k], bit_at(w, e->st[k].ready_at), word);
    if (e->trace_from <= t - e->t0 && t - e->t0 <= e->trace_to) {
      e->trace_watch.insert(e->trace_watch.end(), w, w + e->wl);
      e->trace_drive.insert(e->trace_drive.end(), word, word + e->dl);
    }
    if (done) {
      e->done = true;  // the done cycle's word is replaced by the idle one before the edge
      break;
    }
    e->t = t + 1;
    clock_cycle(e, word);
  }
  if (e->active) {
    // One idle cycle before the next layer's start (XpuEnv's idle_word), as the per-cycle
    // testbench drives it in place of the done cycle's word.
    clock_cycle(e, &e->descs[(e->n_layers - 1) * e->dl]);
    e->active = false;
  }
  return DONE;
}

// The samples waiting for codes: (cycle, first row, end row) each, into out (3 * n values).
int64_t oxbnn_pending(void* p, int64_t* out, int64_t room) {
  Env* e = (Env*)p;
  int64_t n = (int64_t)e->pending.size() / 3;
  if (out && room >= n) std::memcpy(out, e->pending.data(), n * 3 * sizeof(int64_t));
  return n;
}

// The port rows kept since the last consumed readout (port_bytes bytes each).
const uint8_t* oxbnn_rows(void* p, int64_t* n_rows, int64_t* row_bytes) {
  Env* e = (Env*)p;
  *n_rows = e->n_rows;
  *row_bytes = e->port_bytes;
  return e->rows.data();
}

// The ADC drive bits due in cycle `cycle` (dl limbs), delivered in increasing cycle order.
void oxbnn_deliver(void* p, int64_t cycle, const limb* bits) {
  Env* e = (Env*)p;
  e->due.emplace_back(cycle, std::vector<limb>(bits, bits + e->dl));
}

// Every pending sample has its codes: drop its rows.
void oxbnn_consume(void* p) {
  Env* e = (Env*)p;
  if (e->pending.empty()) return;
  int64_t end = e->pending.back();
  e->rows.erase(e->rows.begin(), e->rows.begin() + end * e->port_bytes);
  e->n_rows -= end;
  e->window_lo -= end;
  e->pending.clear();
}

// What the layer left: counts into out[0..7] (cycle of done, result words, sample slots, reset
// slots, cycles waited for the host, error, traced cycles, stalls of the three streams summed).
void oxbnn_counts(void* p, int64_t* out) {
  Env* e = (Env*)p;
  out[0] = e->t - e->t0;
  out[1] = (int64_t)e->result_cycles.size();
  out[2] = (int64_t)e->sample_slots.size();
  out[3] = (int64_t)e->reset_slots.size();
  out[4] = e->not_ready;
  out[5] = e->error;
  out[6] = (int64_t)e->trace_watch.size() / e->wl;
  out[7] = e->st[0].stalls + e->st[1].stalls + e->st[2].stalls;
}

// Copy the layer's records out (sizes from oxbnn_counts).
void oxbnn_copy(void* p, limb* results, int64_t* result_cycles, int64_t* sample_slots,
                int64_t* reset_slots, limb* trace_watch, limb* trace_drive) {
  Env* e = (Env*)p;
  std::copy(e->results.begin(), e->results.end(), results);
  std::copy(e->result_cycles.begin(), e->result_cycles.end(), result_cycles);
  std::copy(e->sample_slots.begin(), e->sample_slots.end(), sample_slots);
  std::copy(e->reset_slots.begin(), e->reset_slots.end(), reset_slots);
  std::copy(e->trace_watch.begin(), e->trace_watch.end(), trace_watch);
  std::copy(e->trace_drive.begin(), e->trace_drive.end(), trace_drive);
}

// Clocked cycles so far and the hash of their watch words.
uint64_t oxbnn_hash(void* p, int64_t* clocked) {
  Env* e = (Env*)p;
  *clocked = e->clocked;
  return e->hash;
}

// The bare model on the recorded stimulus: a fresh model, reset, clocked with every recorded
// drive word and nothing else (no testbench). Returns the hash of the watch words it saw, equal
// to oxbnn_hash's when the model alone reproduces the run.
uint64_t oxbnn_replay(void* p) {
  Env* e = (Env*)p;
  VerilatedContext ctx;
  Vxpu_cosim top{&ctx};
  reset_model(&top);
  std::vector<limb> watch(e->wl + 1, 0);
  uint64_t hash = 1469598103934665603ull;
  int64_t n = (int64_t)e->recorded.size() / e->dl;
  for (int64_t k = 0; k < n; k++) {
    std::memcpy(watch.data(), &top.watch, sizeof(top.watch));
    for (int64_t i = 0; i < e->wl; i++) hash = (hash ^ watch[i]) * 1099511628211ull;
    std::memcpy(&top.drive, &e->recorded[k * e->dl], sizeof(top.drive));
    top.clk = 1;
    top.eval();
    top.clk = 0;
    top.eval();
  }
  top.final();
  return hash;
}

// Flip bit `bit` of recorded drive word k (the tests' proof that a replay can disagree).
void oxbnn_flip_recorded(void* p, int64_t k, int64_t bit) {
  Env* e = (Env*)p;
  e->recorded[k * e->dl + (bit >> 5)] ^= 1u << (bit & 31);
}

int64_t oxbnn_recorded(void* p) {
  Env* e = (Env*)p;
  return (int64_t)e->recorded.size() / e->dl;
}

}  // extern "C"
