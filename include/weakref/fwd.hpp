// SPDX-License-Identifier: MIT
// Forward declarations of every public name, in both flavours.
#pragma once

#include "detail/function_objects.hpp"

namespace weakref {

class bad_weak_ref;

namespace detail {
struct atomic_policy;
struct local_policy;
template <class T, class Policy> class basic_ref;
template <class T, class Policy> class basic_weak_ref;
template <class T, class Policy> class basic_enable_ref_from_this;
template <class T, class Policy> class basic_proxy;
template <class T, class Fn, class Policy, class... Bound> class basic_weak_fn;
template <class Policy> class basic_finalizer;
template <class Policy> class basic_scoped_finalizer;
template <class K, class V, class Hash, class KeyEqual, class Policy> class basic_weak_value_map;
template <class K, class V, class Policy> class basic_weak_key_map;
template <class T, class Policy> class basic_weak_set;
template <class T, class Hash, class KeyEqual, class Policy> class basic_weak_interner;
template <class T, class Policy> class basic_weak_anchor;
template <class T, class Policy> class basic_observer;
template <class T, class Policy> class basic_pinned;
template <class Signature, class Policy> class basic_weak_signal;
template <class Policy> class basic_connection;
template <class Policy> class basic_scoped_connection;
} // namespace detail

// The thread-safe flavour: atomic counts, containers synchronised inside.
template <class T> using ref = detail::basic_ref<T, detail::atomic_policy>;
template <class T> using weak_ref = detail::basic_weak_ref<T, detail::atomic_policy>;
template <class T>
using enable_ref_from_this = detail::basic_enable_ref_from_this<T, detail::atomic_policy>;
template <class T> using proxy = detail::basic_proxy<T, detail::atomic_policy>;
using finalizer = detail::basic_finalizer<detail::atomic_policy>;
using scoped_finalizer = detail::basic_scoped_finalizer<detail::atomic_policy>;
template <class K, class V, class Hash = std::hash<K>, class KeyEqual = std::equal_to<K>>
using weak_value_map = detail::basic_weak_value_map<K, V, Hash, KeyEqual, detail::atomic_policy>;
template <class K, class V>
using weak_key_map = detail::basic_weak_key_map<K, V, detail::atomic_policy>;
template <class T> using weak_set = detail::basic_weak_set<T, detail::atomic_policy>;
template <class T, class Hash = std::hash<T>, class KeyEqual = std::equal_to<T>>
using weak_interner = detail::basic_weak_interner<T, Hash, KeyEqual, detail::atomic_policy>;
template <class T> using weak_anchor = detail::basic_weak_anchor<T, detail::atomic_policy>;
template <class T> using observer = detail::basic_observer<T, detail::atomic_policy>;
template <class T> using pinned = detail::basic_pinned<T, detail::atomic_policy>;
template <class Signature>
using weak_signal = detail::basic_weak_signal<Signature, detail::atomic_policy>;
using connection = detail::basic_connection<detail::atomic_policy>;
using scoped_connection = detail::basic_scoped_connection<detail::atomic_policy>;

// The single-threaded flavour: plain counts, no atomics, no locks. Its types do not mix with
// the thread-safe ones.
namespace local {
template <class T> using ref = detail::basic_ref<T, detail::local_policy>;
template <class T> using weak_ref = detail::basic_weak_ref<T, detail::local_policy>;
template <class T>
using enable_ref_from_this = detail::basic_enable_ref_from_this<T, detail::local_policy>;
template <class T> using proxy = detail::basic_proxy<T, detail::local_policy>;
using finalizer = detail::basic_finalizer<detail::local_policy>;
using scoped_finalizer = detail::basic_scoped_finalizer<detail::local_policy>;
template <class K, class V, class Hash = std::hash<K>, class KeyEqual = std::equal_to<K>>
using weak_value_map = detail::basic_weak_value_map<K, V, Hash, KeyEqual, detail::local_policy>;
template <class K, class V>
using weak_key_map = detail::basic_weak_key_map<K, V, detail::local_policy>;
template <class T> using weak_set = detail::basic_weak_set<T, detail::local_policy>;
template <class T, class Hash = std::hash<T>, class KeyEqual = std::equal_to<T>>
using weak_interner = detail::basic_weak_interner<T, Hash, KeyEqual, detail::local_policy>;
template <class T> using weak_anchor = detail::basic_weak_anchor<T, detail::local_policy>;
template <class T> using observer = detail::basic_observer<T, detail::local_policy>;
template <class T> using pinned = detail::basic_pinned<T, detail::local_policy>;
template <class Signature>
using weak_signal = detail::basic_weak_signal<Signature, detail::local_policy>;
using connection = detail::basic_connection<detail::local_policy>;
using scoped_connection = detail::basic_scoped_connection<detail::local_policy>;
} // namespace local

} // namespace weakref
