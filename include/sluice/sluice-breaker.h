/* sluice-breaker.h — a circuit breaker for one provider target.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#if !defined (SLUICE_INSIDE) && !defined (SLUICE_COMPILATION)
# error "Only <sluice.h> can be included directly."
#endif

#include <glib-object.h>

G_BEGIN_DECLS

/**
 * SluiceBreakerState:
 * @SLUICE_BREAKER_CLOSED: calls go through; failures are counted
 * @SLUICE_BREAKER_OPEN: calls are refused until the reset timeout passes
 * @SLUICE_BREAKER_HALF_OPEN: a few probes go through; one success closes
 *   the breaker, one failure opens it again
 */
typedef enum
{
  SLUICE_BREAKER_CLOSED,
  SLUICE_BREAKER_OPEN,
  SLUICE_BREAKER_HALF_OPEN,
} SluiceBreakerState;

/**
 * SluiceBreakerSettings:
 * @failures: consecutive failures that open the breaker (0: not used)
 * @failure_rate: failure share over @window_ms that opens it (0: not used)
 * @min_calls: calls within the window before @failure_rate applies
 * @window_ms: length of the rolling window
 * @reset_ms: how long the breaker stays open before it admits probes
 * @probes: calls admitted at once while half-open
 */
typedef struct
{
  guint   failures;
  gdouble failure_rate;
  guint   min_calls;
  gint64  window_ms;
  gint64  reset_ms;
  guint   probes;
} SluiceBreakerSettings;

#define SLUICE_TYPE_BREAKER (sluice_breaker_get_type ())
G_DECLARE_FINAL_TYPE (SluiceBreaker, sluice_breaker, SLUICE, BREAKER, GObject)

/**
 * sluice_breaker_new:
 * @key: what the breaker guards, e.g. `openai:gpt-4o-mini` (for logs)
 * @settings: its thresholds
 *
 * Every method takes the time (monotonic milliseconds) from its caller, so
 * that the state machine is exact and testable.
 *
 * Returns: (transfer full): a closed breaker
 */
SluiceBreaker     *sluice_breaker_new            (const char                  *key,
                                                  const SluiceBreakerSettings *settings);
const char        *sluice_breaker_get_key        (SluiceBreaker *self);
/**
 * sluice_breaker_get_state:
 * @self: a #SluiceBreaker
 * @now_ms: the time
 *
 * An open breaker whose reset timeout has passed reads as half-open.
 *
 * Returns: the state at @now_ms
 */
SluiceBreakerState sluice_breaker_get_state      (SluiceBreaker *self,
                                                  gint64         now_ms);
/**
 * sluice_breaker_is_available:
 * @self: a #SluiceBreaker
 * @now_ms: the time
 *
 * Returns: whether sluice_breaker_try_acquire() would admit a call now
 *   (it takes nothing)
 */
gboolean           sluice_breaker_is_available   (SluiceBreaker *self,
                                                  gint64         now_ms);
/**
 * sluice_breaker_try_acquire:
 * @self: a #SluiceBreaker
 * @now_ms: the time
 *
 * Asks to make a call. While half-open, each admitted call takes one of
 * the probe slots until it is recorded or released.
 *
 * Returns: %TRUE if the call may go ahead
 */
gboolean           sluice_breaker_try_acquire    (SluiceBreaker *self,
                                                  gint64         now_ms);
/**
 * sluice_breaker_record:
 * @self: a #SluiceBreaker
 * @now_ms: the time
 * @healthy: %FALSE if the outcome says the provider is unhealthy (5xx,
 *   overload, timeout, network, a broken stream); an answer or a 400 is
 *   healthy
 *
 * Records the outcome of a call admitted by sluice_breaker_try_acquire().
 */
void               sluice_breaker_record         (SluiceBreaker *self,
                                                  gint64         now_ms,
                                                  gboolean       healthy);
/**
 * sluice_breaker_release:
 * @self: a #SluiceBreaker
 *
 * Gives back an admitted call that ended with no outcome (cancelled).
 */
void               sluice_breaker_release        (SluiceBreaker *self);
/**
 * sluice_breaker_get_n_opened:
 * @self: a #SluiceBreaker
 *
 * Returns: how often the breaker has opened (trips)
 */
guint              sluice_breaker_get_n_opened   (SluiceBreaker *self);
/**
 * sluice_breaker_get_n_refused:
 * @self: a #SluiceBreaker
 *
 * Returns: how many calls it refused
 */
guint64            sluice_breaker_get_n_refused  (SluiceBreaker *self);
const char        *sluice_breaker_state_to_string (SluiceBreakerState state);

G_END_DECLS
