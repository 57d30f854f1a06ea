/* sluice.h — the one header plugin authors and embedders include.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#pragma once

#define SLUICE_INSIDE
#include "sluice-version.h"
#include "sluice-error.h"
#include "sluice-util.h"
#include "sluice-response.h"
#include "sluice-context.h"
#include "sluice-stage.h"
#include "sluice-provider.h"
#include "sluice-breaker.h"
#include "sluice-target-set.h"
#include "sluice-fallback-policy.h"
#include "sluice-cost-sink.h"
#include "sluice-engine.h"
#include "sluice-pipeline.h"
#include "sluice-catalog.h"
#include "sluice-tokenizer.h"
#include "sluice-sse.h"
#include "sluice-http.h"
#include "sluice-http-provider.h"
#include "sluice-db.h"
#undef SLUICE_INSIDE
