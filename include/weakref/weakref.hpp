// SPDX-License-Identifier: MIT
// The one include: every public header of weakref, both flavours.
#pragma once

#include "bad_weak_ref.hpp"
#include "enable_ref_from_this.hpp"
#include "finalizer.hpp"
#include "fwd.hpp"
#include "proxy.hpp"
#include "ref.hpp"
#include "shared_ptr.hpp"
#include "version.hpp"
#include "weak_anchor.hpp"
#include "weak_fn.hpp"
#include "weak_interner.hpp"
#include "weak_key_map.hpp"
#include "weak_ref.hpp"
#include "weak_set.hpp"
#include "weak_signal.hpp"
#include "weak_value_map.hpp"
