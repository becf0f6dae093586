"""Fines paid by mobile money: requests, the saga and its partner steps, callbacks, dispatch.

- payment_requests: check a request and store it once (idempotency);
- states: the allowed transitions and the payment's timeline;
- saga, partner_step: run a payment through its partners, restartable at any point;
- callbacks: the signed notification of the client application;
- dispatch: hand new and left-behind payments to workers;
- queries, review: what the API and the back-office read, and the admins' decisions.
"""
