-- Headless Neovim with oomlint attached through its built-in LSP client: the diagnostics Neovim
-- holds for a leaking buffer, then a code action that fixes the buffer. Run by CTest:
--   OOMLINT=... OOMLINT_TEST_DIR=... nvim --headless --clean -u NONE -c "luafile THIS"
-- Exits 0 when every check holds, 1 (with the reason on stderr) otherwise.
local source_dir = os.getenv("OOMLINT_SOURCE_DIR")
local work = os.getenv("OOMLINT_TEST_DIR")
vim.opt.runtimepath:append(source_dir .. "/editors/neovim")

local function fail(why)
  io.stderr:write("neovim client test: " .. why .. "\n")
  vim.cmd("cquit 1")
end

local ok, err = pcall(function()
  vim.fn.mkdir(work, "p")
  local path = work .. "/train.py"
  -- The leaking program the real-client and pre-commit tests share (tests/editors/leaking_train.py).
  vim.fn.writefile(vim.fn.readfile(source_dir .. "/tests/editors/leaking_train.py"), path)
  vim.fn.writefile({ "[tool.oomlint]", 'select = ["OOM1"]' }, work .. "/pyproject.toml")

  require("oomlint").setup({ cmd = { os.getenv("OOMLINT"), "server" }, settings = { unsafeFixes = true } })
  vim.cmd("edit " .. path)
  vim.bo.filetype = "python"

  local function oom101()
    for _, d in ipairs(vim.diagnostic.get(0)) do
      if d.code == "OOM101" or (d.user_data and d.user_data.lsp and d.user_data.lsp.code == "OOM101") then
        return d
      end
    end
  end
  if not vim.wait(20000, function() return oom101() ~= nil end, 50) then
    return fail("no OOM101 diagnostic arrived; got " .. vim.inspect(vim.diagnostic.get(0)))
  end
  local d = oom101()
  if d.lnum ~= 6 or d.col ~= 8 then
    return fail(string.format("OOM101 at %d:%d, expected 6:8", d.lnum, d.col))
  end
  if d.source ~= "oomlint" then
    return fail("source is " .. tostring(d.source))
  end

  -- The quick fix for that line, applied the way `vim.lsp.buf.code_action()` applies it.
  local client = vim.lsp.get_active_clients({ name = "oomlint" })[1] or vim.lsp.get_active_clients()[1]
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(0) },
    range = { start = { line = 6, character = 0 }, ["end"] = { line = 6, character = 21 } },
    context = { diagnostics = {} },
  }
  local replies = vim.lsp.buf_request_sync(0, "textDocument/codeAction", params, 10000)
  local fix
  for _, reply in pairs(replies or {}) do
    for _, action in ipairs(reply.result or {}) do
      if action.kind == "quickfix" and action.title:find("detach") then
        fix = action
      end
    end
  end
  if not fix then
    return fail("no quick fix offered: " .. vim.inspect(replies))
  end
  vim.lsp.util.apply_workspace_edit(fix.edit, client.offset_encoding or "utf-16")
  local line = vim.api.nvim_buf_get_lines(0, 6, 7, false)[1]
  if line ~= "        total += loss.detach()" then
    return fail("after the fix the line reads: " .. line)
  end
  if not vim.wait(20000, function() return oom101() == nil end, 50) then
    return fail("OOM101 is still shown after the fix")
  end
end)
if not ok then
  fail(tostring(err))
end
vim.cmd("qall!")
