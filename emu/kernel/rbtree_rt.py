"""Red-black trees of BPF graph nodes at run time: ``bpf_rbtree_add/remove/first``.

Models kernel/bpf/helpers.c (Linux 6.18) ``__bpf_rbtree_add``, ``bpf_rbtree_remove``,
``bpf_rbtree_first`` on the kernel's own data structures in emulated memory, with
lib/rbtree.c's algorithms (``__rb_insert``, ``__rb_erase_augmented`` without augmentation,
``____rb_erase_color``, ``rb_next``), so the tree has the kernel's shape and the ``less``
callback is called for the same pairs in the same order:

* a ``struct bpf_rb_root`` is a ``struct rb_root_cached`` {``rb_node``, ``rb_leftmost``};
* a ``struct bpf_rb_node`` is ``struct bpf_rb_node_kern`` {``struct rb_node`` {
  ``__rb_parent_color``, ``rb_right``, ``rb_left``}, ``owner``};
* ``bpf_rbtree_add_impl(root, node, less, meta, off)``: a node that already has an owner
  is refused (``-EINVAL``) and its object dropped; else the node is marked
  (``BPF_PTR_POISON``), the tree descended calling ``less(node, parent)`` (a BPF callback,
  run through :mod:`emu.machine.callbacks` inside the program's run) -- true goes left --,
  linked, rebalanced (``rb_insert_color_cached``) and owned by ``root``;
* ``bpf_rbtree_remove(root, node)``: NULL unless ``root`` owns the node; else
  ``rb_erase_cached``, ``RB_CLEAR_NODE``, no owner;
* ``bpf_rbtree_first(root)``: the cached leftmost node.

Not modelled: freeing a tree's nodes when its map value is deleted or the map freed
(``bpf_rb_root_free``); trees inside allocated objects (refused by ``bpf_obj_new``).
"""

from __future__ import annotations

import errno
from typing import Any

from emu.machine.callbacks import CallbackGen

__all__ = ["RbTrees", "BPF_PTR_POISON"]

U64 = (1 << 64) - 1
#: include/linux/poison.h + bpf.h: 0xeB9F + POISON_POINTER_DELTA (x86-64)
BPF_PTR_POISON = 0xDEAD00000000EB9F
_RED, _BLACK = 0, 1
_PC, _RIGHT, _LEFT, _OWNER = 0, 8, 16, 24


class _Mem:
    """Field access on emulated memory (NULL is 0)."""

    def __init__(self, m: Any) -> None:
        self.m = m

    def get(self, n: int, off: int) -> int:
        return int(self.m.read_u64(n + off))

    def put(self, n: int, off: int, v: int) -> None:
        self.m.write_u64(n + off, v & U64)

    def parent(self, n: int) -> int:
        return self.get(n, _PC) & ~3

    def is_black(self, n: int) -> bool:
        return bool(self.get(n, _PC) & 1)

    def set_parent_color(self, n: int, parent: int, color: int) -> None:
        self.put(n, _PC, parent | color)

    def set_parent(self, n: int, parent: int) -> None:
        self.put(n, _PC, (self.get(n, _PC) & 3) | parent)

    def change_child(self, old: int, new: int, parent: int, root: int) -> None:
        if parent:
            self.put(parent, _LEFT if self.get(parent, _LEFT) == old else _RIGHT, new)
        else:
            self.put(root, 0, new)

    def rotate_set_parents(self, old: int, new: int, root: int, color: int) -> None:
        parent = self.parent(old)
        self.put(new, _PC, self.get(old, _PC))
        self.set_parent_color(old, new, color)
        self.change_child(old, new, parent, root)


def _insert_color(t: _Mem, node: int, root: int) -> None:
    """lib/rbtree.c ``__rb_insert`` (``node`` red and linked)."""
    parent = t.parent(node)
    while True:
        if not parent:
            t.set_parent_color(node, 0, _BLACK)
            return
        if t.is_black(parent):
            return
        gparent = t.parent(parent)
        left_side = parent != t.get(gparent, _RIGHT)
        near, far = (_RIGHT, _LEFT) if left_side else (_LEFT, _RIGHT)  # far: parent's side
        uncle = t.get(gparent, near)
        if uncle and not t.is_black(uncle):  # case 1: recolour
            t.set_parent_color(uncle, gparent, _BLACK)
            t.set_parent_color(parent, gparent, _BLACK)
            node = gparent
            parent = t.parent(node)
            t.set_parent_color(node, parent, _RED)
            continue
        tmp = t.get(parent, near)
        if node == tmp:  # case 2: rotate at parent
            tmp = t.get(node, far)
            t.put(parent, near, tmp)
            t.put(node, far, parent)
            if tmp:
                t.set_parent_color(tmp, parent, _BLACK)
            t.set_parent_color(parent, node, _RED)
            parent = node
            tmp = t.get(node, near)
        # case 3: rotate at gparent
        t.put(gparent, far, tmp)
        t.put(parent, near, gparent)
        if tmp:
            t.set_parent_color(tmp, gparent, _BLACK)
        t.rotate_set_parents(gparent, parent, root, _RED)
        return


def _next(t: _Mem, node: int) -> int:
    """``rb_next``."""
    if t.get(node, _PC) == node:  # RB_EMPTY_NODE
        return 0
    right = t.get(node, _RIGHT)
    if right:
        node = right
        while t.get(node, _LEFT):
            node = t.get(node, _LEFT)
        return node
    parent = t.parent(node)
    while parent and node == t.get(parent, _RIGHT):
        node = parent
        parent = t.parent(node)
    return parent


def _erase(t: _Mem, node: int, root: int) -> int:
    """``__rb_erase_augmented`` without augmentation: the node to rebalance from (0: none)."""
    child = t.get(node, _RIGHT)
    tmp = t.get(node, _LEFT)
    if not tmp:
        pc = t.get(node, _PC)
        parent = pc & ~3
        t.change_child(node, child, parent, root)
        if child:
            t.put(child, _PC, pc)
            return 0
        return parent if pc & 1 else 0
    if not child:
        pc = t.get(node, _PC)
        t.put(tmp, _PC, pc)
        t.change_child(node, tmp, pc & ~3, root)
        return 0
    successor = child
    tmp = t.get(child, _LEFT)
    if not tmp:
        parent = successor
        child2 = t.get(successor, _RIGHT)
    else:
        while tmp:
            parent = successor
            successor = tmp
            tmp = t.get(tmp, _LEFT)
        child2 = t.get(successor, _RIGHT)
        t.put(parent, _LEFT, child2)
        t.put(successor, _RIGHT, child)
        t.set_parent(child, successor)
    tmp = t.get(node, _LEFT)
    t.put(successor, _LEFT, tmp)
    t.set_parent(tmp, successor)
    pc = t.get(node, _PC)
    t.change_child(node, successor, pc & ~3, root)
    if child2:
        t.set_parent_color(child2, parent, _BLACK)
        rebalance = 0
    else:
        rebalance = parent if t.is_black(successor) else 0
    t.put(successor, _PC, pc)
    return rebalance


def _erase_color(t: _Mem, parent: int, root: int) -> None:
    """``____rb_erase_color``."""
    node = 0
    while True:
        sibling = t.get(parent, _RIGHT)
        if node != sibling:
            near, far = _LEFT, _RIGHT  # node is parent's left
        else:
            near, far = _RIGHT, _LEFT
            sibling = t.get(parent, _LEFT)
        if not t.is_black(sibling):  # case 1: rotate at parent
            tmp1 = t.get(sibling, near)
            t.put(parent, far, tmp1)
            t.put(sibling, near, parent)
            t.set_parent_color(tmp1, parent, _BLACK)
            t.rotate_set_parents(parent, sibling, root, _RED)
            sibling = tmp1
        tmp1 = t.get(sibling, far)
        if not tmp1 or t.is_black(tmp1):
            tmp2 = t.get(sibling, near)
            if not tmp2 or t.is_black(tmp2):  # case 2: sibling colour flip
                t.set_parent_color(sibling, parent, _RED)
                if not t.is_black(parent):
                    t.put(parent, _PC, t.get(parent, _PC) | _BLACK)
                else:
                    node = parent
                    parent = t.parent(node)
                    if parent:
                        continue
                return
            # case 3: rotate at sibling
            tmp1 = t.get(tmp2, far)
            t.put(sibling, near, tmp1)
            t.put(tmp2, far, sibling)
            t.put(parent, far, tmp2)
            if tmp1:
                t.set_parent_color(tmp1, sibling, _BLACK)
            tmp1 = sibling
            sibling = tmp2
        # case 4: rotate at parent, colour flips
        tmp2 = t.get(sibling, near)
        t.put(parent, far, tmp2)
        t.put(sibling, near, parent)
        t.set_parent_color(tmp1, sibling, _BLACK)
        if tmp2:
            t.set_parent(tmp2, parent)
        t.rotate_set_parents(parent, sibling, root, _BLACK)
        return


class RbTrees:
    """The rbtree kfuncs; ``graph`` (:class:`emu.kernel.graph_kfuncs.GraphRuntime`) drops a
    refused node's object."""

    def __init__(self, graph: Any) -> None:
        self.graph = graph

    def add(self, m: Any, _loc: int, root: int, node: int, less: int, meta: int, off: int) -> CallbackGen:
        """``bpf_rbtree_add_impl``: a generator for :func:`emu.machine.callbacks.bind_calling`."""
        t = _Mem(m)
        root &= U64
        node &= U64
        if t.get(node, _OWNER):  # cmpxchg(&node->owner, NULL, BPF_PTR_POISON) failed
            self.graph._drop(m, node - (off & U64), self.graph._rec(meta & U64))
            return (-errno.EINVAL) & U64
        t.put(node, _OWNER, BPF_PTR_POISON)
        link_parent, link_off = 0, -1
        cur = t.get(root, 0)
        leftmost = True
        while cur:
            link_parent = cur
            if (yield less, (node, cur, 0, 0, 0)):
                link_off = _LEFT
            else:
                link_off = _RIGHT
                leftmost = False
            cur = t.get(cur, link_off)
        # rb_link_node: red, no children, hung from its parent (or the root)
        t.put(node, _PC, link_parent)
        t.put(node, _RIGHT, 0)
        t.put(node, _LEFT, 0)
        if link_parent:
            t.put(link_parent, link_off, node)
        else:
            t.put(root, 0, node)
        if leftmost:  # rb_insert_color_cached
            t.put(root, 8, node)
        _insert_color(t, node, root)
        t.put(node, _OWNER, root)
        return 0

    def remove(self, m: Any, root: int, node: int, *_: int) -> int:
        """``bpf_rbtree_remove``."""
        t = _Mem(m)
        root &= U64
        node &= U64
        if t.get(node, _OWNER) != root:
            return 0
        if t.get(root, 8) == node:  # rb_erase_cached
            t.put(root, 8, _next(t, node))
        rebalance = _erase(t, node, root)
        if rebalance:
            _erase_color(t, rebalance, root)
        t.put(node, _PC, node)  # RB_CLEAR_NODE
        t.put(node, _OWNER, 0)
        return node

    def first(self, m: Any, root: int, *_: int) -> int:
        """``bpf_rbtree_first``: ``rb_first_cached``."""
        return int(m.read_u64((root & U64) + 8))
