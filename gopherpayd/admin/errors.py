"""Operator refusals."""

from gopherpayd.kit.errors import Forbidden


class OwnAccount(Forbidden):
    """Four eyes: an operator never moves money into, out of or back to their own account."""

    code, title = "operator_own_account", "Operator's own account"
