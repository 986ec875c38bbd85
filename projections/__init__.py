"""Read models built from the event log: pure handlers plus a store.

Each view writes its rows and its tracking position in one transaction, so a
crash can neither skip an event nor apply one twice. Projections never import
``services``: they see only domain events and a SQL cursor.
"""
