# Escrow: a reverse proxy that holds upstream secrets in escrow for AI agents.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY gateway ./gateway
COPY adapters ./adapters
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY policies ./policies
COPY examples ./examples
# /data is where docker-compose.yml mounts a named volume for dev key material (ESCROW_DEV_MATERIAL). A new
# named volume takes the ownership of the image's directory: without this it would be root's, and `node` could
# not write the keys.
RUN mkdir -p /data && chown node:node /data
USER node
EXPOSE 8080 9090
HEALTHCHECK --interval=10s --timeout=2s CMD node -e "fetch('http://127.0.0.1:9090/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/gateway/cli.js"]
CMD ["start", "--config", "/etc/escrow/escrow.yaml"]
