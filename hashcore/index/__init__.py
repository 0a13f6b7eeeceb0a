"""One index per signal family, behind :class:`~hashcore.index.base.SignalIndex`."""
