"""rc-mcp: an MCP server that shows LLM agents what changed in a Rocket.Chat room."""

__version__ = "0.1.0"
