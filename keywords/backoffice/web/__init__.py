"""The staff web app: sign-in, the review queue and (later) the managers' dashboard.

``backoffice serve`` runs ``web.app.create_app`` with uvicorn. Importing this package
pulls in nothing heavy; ``web.models`` holds the tables, ``web.accounts`` the accounts and
sessions, ``web.queue`` the queue and its decisions, ``web.documents`` the page images.
"""
