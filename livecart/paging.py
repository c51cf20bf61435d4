"""Every listing pages the same way: at most PAGE_LIMIT_MAX items a page, a cursor
``after`` naming the last item of the previous page, ``{"items": [...], "next": ...}``."""

PAGE_LIMIT_DEFAULT = 50
PAGE_LIMIT_MAX = 200
