"""The local core dashboard: aiohttp app (app.py), its facade protocol (facade.py), static page."""
