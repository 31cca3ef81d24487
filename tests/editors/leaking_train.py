def train(model, loader, opt):
    total = 0
    for x, y in loader:
        loss = (model(x) - y).pow(2).mean()
        loss.backward()
        opt.step()
        total += loss
    return total
