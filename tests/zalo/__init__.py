"""The Zalo channel tier: the wire layer against a stand-in Zalo Bot API over real HTTP."""
